#!/usr/bin/python3
"""The `fathom serve` web page in a real browser (Debian chromium, headless,
through chromium-driver and python3-selenium).

Usage: browser_test.py FATHOM_BINARY SCREENSHOT_PNG

Trains a tiny model, starts `fathom serve --port 0`, loads the page, types an
example, clicks Explain and waits for the heatmaps; then checks the DOM: one
coloured span per token of every method (the same tokens the API returns),
the predicted label shown, the colour legend present; runs HotFlip and input
reduction from the page; saves a screenshot. Exit 77 (ctest: Skipped) when
chromium, chromedriver or selenium is missing; installs nothing.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from browser_support import require_chromium, start_chromium  # noqa: E402


def main():
    fathom, screenshot = sys.argv[1], sys.argv[2]
    require_chromium()
    work = tempfile.mkdtemp(prefix="fathom-browser-")
    server = None
    driver = None
    try:
        def run(*args):
            subprocess.run([fathom, "--log-level", "warn", *args], check=True, cwd=work,
                           stdout=subprocess.DEVNULL)
        run("synth", "--task", "sentiment", "--n", "400", "--seed", "5", "--out", "data")
        run("train", "--corpus", "data/train.jsonl", "--arch", "boe", "--tokenizer", "word", "--epochs", "3",
            "--out", "model")
        server = subprocess.Popen([fathom, "--log-level", "warn", "serve", "--model", "model", "--port", "0"],
                                  cwd=work, stdout=subprocess.PIPE, text=True)
        line = server.stdout.readline()
        if "listening on http://" not in line:
            print("fathom serve did not start: " + line)
            return 1
        base = line.strip().split("listening on ")[1].rstrip("/")

        text = "the acting was wonderful but the plot was dull"
        req = urllib.request.Request(base + "/v1/saliency", method="POST",
                                     data=json.dumps({"text": text, "methods": ["vanilla", "grad-input", "ig", "loo"]}).encode(),
                                     headers={"Content-Type": "application/json"})
        expected = json.load(urllib.request.urlopen(req))

        driver, By, WebDriverWait = start_chromium(work, "1200,1000")
        driver.get(base + "/")
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#methods input")) == 5)
        # The methods the API call above used: uncheck SmoothGrad (default) and keep the rest.
        for box in driver.find_elements(By.CSS_SELECTOR, "#methods input"):
            want = box.get_attribute("value") in ("vanilla", "grad-input", "ig", "loo")
            if box.is_selected() != want:
                box.click()
        area = driver.find_element(By.ID, "text")
        area.clear()
        area.send_keys(text)
        driver.find_element(By.ID, "explain").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".method .heatmap")) == 4)

        failures = []
        shown = driver.find_element(By.ID, "prediction").text
        if shown != expected["prediction"]:
            failures.append("prediction shown %r, API says %r" % (shown, expected["prediction"]))
        if not driver.find_elements(By.CSS_SELECTOR, "#legend svg linearGradient"):
            failures.append("no colour legend")
        for box in driver.find_elements(By.CSS_SELECTOR, ".method"):
            method = box.get_attribute("data-method")
            spans = box.find_elements(By.CSS_SELECTOR, ".heatmap span.tok")
            tokens = expected["results"][method]["tokens"]
            if [s.text for s in spans] != [t["text"] for t in tokens]:
                failures.append("%s: spans %r, tokens %r" % (method, [s.text for s in spans], [t["text"] for t in tokens]))
            for s in spans:
                if not s.value_of_css_property("background-color").startswith("rgb"):
                    failures.append("%s: span %r not coloured" % (method, s.text))
            if method != "vanilla" and method != "loo":
                # Signed methods: at least one token in each direction or a non-white colour.
                colours = {s.value_of_css_property("background-color") for s in spans if "special" not in s.get_attribute("class")}
                if len(colours) < 2:
                    failures.append("%s: every token has the same colour" % method)
        driver.save_screenshot(screenshot)

        driver.find_element(By.ID, "hotflip").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#attack h2"))
        if "HotFlip" not in driver.find_element(By.CSS_SELECTOR, "#attack h2").text:
            failures.append("no HotFlip result")
        driver.find_element(By.ID, "reduce").click()
        wait.until(lambda d: "reduction" in d.find_element(By.CSS_SELECTOR, "#attack h2").text)
        if driver.find_element(By.ID, "error").text:
            failures.append("the page shows an error: " + driver.find_element(By.ID, "error").text)
        for f in failures:
            print("FAIL: " + f)
        print("screenshot: " + screenshot)
        return 1 if failures else 0
    finally:
        if driver is not None:
            driver.quit()
        if server is not None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
