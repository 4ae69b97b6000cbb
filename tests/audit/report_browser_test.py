#!/usr/bin/python3
"""The audit's report.html in a real browser (Debian chromium, headless,
through chromium-driver and python3-selenium).

Usage: report_browser_test.py FATHOM_BINARY SCREENSHOT_PNG

Runs `fathom synth` (planted artifact and flips) and `fathom audit` with a
stand-in self-influence file (the flipped examples score highest) and a
trigger, opens report.html from disk (file://: the page must need nothing
else), and checks the rendered DOM: the z*-vs-frequency scatter has one
visible point inside the plot per point the page wrote, the Bonferroni line
is drawn, the planted artifact is a labelled outlier, the suspects table has
one row per likely mislabel of report.json with its text, the self-influence
histogram has bars; saves a screenshot. Exit 77 (ctest: Skipped) when
chromium, chromedriver or selenium is missing; installs nothing.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from browser_support import require_chromium, start_chromium  # noqa: E402


def main():
    fathom, screenshot = sys.argv[1], sys.argv[2]
    require_chromium()
    work = tempfile.mkdtemp(prefix="fathom-report-browser-")
    driver = None
    try:
        def run(*args):
            subprocess.run([fathom, "--log-level", "warn", *args], check=True, cwd=work, stdout=subprocess.DEVNULL)

        run("synth", "--task", "sentiment", "--n", "3000", "--seed", "4", "--artifact-rate", "0.3",
            "--flip-rate", "0.05", "--out", "data")
        truth = json.load(open(os.path.join(work, "data", "truth.json")))
        artifact = truth["artifacts"][0]["token"]
        flipped = {f["id"] for f in truth["flipped"]}
        with open(os.path.join(work, "data", "train.jsonl")) as f, open(os.path.join(work, "si.jsonl"), "w") as si:
            for i, line in enumerate(f):
                rid = json.loads(line)["id"]
                si.write(json.dumps({"id": rid, "score": (10.0 + i % 7) if rid in flipped else 1.0 + (i % 11) * 0.1}) + "\n")
        with open(os.path.join(work, "trigger.json"), "w") as t:
            json.dump({"trigger_tokens": [artifact], "flip_rate": 0.7, "target": truth["artifacts"][0]["label"]}, t)
        run("audit", "--corpus", "data/train.jsonl", "--self-influence", "si.jsonl", "--triggers", "trigger.json",
            "--truth", "data/truth.json", "--suspects", "25", "--out", "audit")
        report = json.load(open(os.path.join(work, "audit", "report.json")))
        page = os.path.join(work, "audit", "report.html")

        driver, By, _ = start_chromium(work, "1300,2400")
        driver.get("file://" + page)

        failures = []
        html = open(page).read()
        written = html.count('<circle class="pt"')
        scatter = driver.find_element(By.ID, "scatter")
        box = scatter.rect
        points = scatter.find_elements(By.CSS_SELECTOR, "circle.pt")
        if written < 20 or len(points) != written:
            failures.append("scatter: %d points rendered, %d written (want >= 20, all rendered)" % (len(points), written))
        outside = 0
        for p in points:
            r = p.rect
            cx, cy = r["x"] + r["width"] / 2, r["y"] + r["height"] / 2
            if r["width"] <= 0 or not (box["x"] <= cx <= box["x"] + box["width"] and box["y"] <= cy <= box["y"] + box["height"]):
                outside += 1
        if outside:
            failures.append("scatter: %d of %d points are invisible or outside the plot" % (outside, len(points)))
        if len(scatter.find_elements(By.CSS_SELECTOR, "line.bonferroni")) != 1:
            failures.append("scatter: no Bonferroni line")
        labels = [t.text for t in scatter.find_elements(By.TAG_NAME, "text")]
        if artifact not in labels:
            failures.append("scatter: the planted artifact %r is not a labelled outlier (labels %r)" % (artifact, labels[:20]))
        rows = driver.find_elements(By.CSS_SELECTOR, "table#suspects tr.suspect")
        if len(rows) != len(report["mislabels"]) or len(rows) != 25:
            failures.append("suspects: %d rows rendered, report.json lists %d (asked 25)" % (len(rows), len(report["mislabels"])))
        for row, m in zip(rows, report["mislabels"]):
            cells = row.find_elements(By.TAG_NAME, "td")
            if m["id"] not in cells[1].text or not cells[-1].text.strip():
                failures.append("suspects: row %s shows %r without its text" % (m["id"], cells[1].text))
                break
        bars = driver.find_elements(By.CSS_SELECTOR, "svg#self-influence rect")
        if len(bars) < 5:
            failures.append("self-influence histogram: %d bars" % len(bars))
        driver.save_screenshot(screenshot)
        for f in failures:
            print("FAIL: " + f)
        print("%d scatter points, %d suspects, %d histogram bars; screenshot: %s" % (len(points), len(rows), len(bars), screenshot))
        return 1 if failures else 0
    finally:
        if driver is not None:
            driver.quit()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
