"""Shared by the browser tests (tests/serve/browser_test.py,
tests/audit/report_browser_test.py): Debian's chromium, headless, through
chromium-driver and python3-selenium. A missing piece exits 77 (ctest:
Skipped, never Passed); nothing is installed here (tools/setup does that)."""
import os
import shutil
import sys

SKIP = 77


def skip(why):
    print("skipping: " + why)
    sys.exit(SKIP)


def find(*names):
    for n in names:
        p = shutil.which(n) or (n if os.path.exists(n) else None)
        if p:
            return p
    return None


def require_chromium():
    """(chromium, chromedriver) paths; exits 77 when they or selenium are
    missing. Call it before any work, so a skipped test costs nothing."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        skip("python3-selenium is not installed (apt-get install python3-selenium)")
    chromium = find("chromium", "/usr/bin/chromium", "chromium-browser")
    driver_bin = find("chromedriver", "/usr/bin/chromedriver")
    if not chromium or not driver_bin:
        skip("chromium / chromium-driver are not installed (apt-get install chromium chromium-driver)")
    return chromium, driver_bin


def start_chromium(work, window_size):
    """A headless Chromium driven by selenium, its profile under `work`;
    returns (driver, By, WebDriverWait)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    chromium, driver_bin = require_chromium()
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    # The background-networking flags keep Chromium from dialling out: this
    # machine's network is closed and refused connections slow it down.
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
              "--window-size=" + window_size, "--user-data-dir=" + os.path.join(work, "profile")):
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service(driver_bin), options=opts)
    driver.set_page_load_timeout(60)
    return driver, By, WebDriverWait
