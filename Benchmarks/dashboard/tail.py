"""The dashboard with a long ledger, in headless Chromium: first load, the audit page at 100,000 events, scrolling
its virtualized list, and the live tail under a burst of new events. Prints one JSON object of figures.

    python3 Benchmarks/dashboard/tail.py .build/release/osprey [--events 100000]

Starts its own gateway (a temporary home, a free loopback port), fills the ledger through the API (each
`POST /api/sessions` is one `session.created` event), then drives the page with selenium (Debian's chromium and
chromium-driver; `scripts/install-deps --browser`). Frame times come from requestAnimationFrame in the page.
"""
import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import tempfile
import threading
import time

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

parser = argparse.ArgumentParser()
parser.add_argument("osprey")
parser.add_argument("--events", type=int, default=100_000)
parser.add_argument("--loads", type=int, default=5, help="first loads timed for the median")
arguments = parser.parse_args()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


home = tempfile.mkdtemp(prefix="osprey-dashboard-bench-")
port = free_port()
gateway = subprocess.Popen(
    [arguments.osprey, "gateway", "--home", home, "--port", str(port)],
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
)
try:
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    token = open(os.path.join(home, "token")).read().strip()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    figures = {"events": arguments.events}

    def post_sessions(count):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(count):
            connection.request("POST", "/api/sessions", body=b'{"title":"seed"}', headers=headers)
            response = connection.getresponse()
            response.read()
            assert response.status == 201, response.status

    # Fill the ledger: 8 clients side by side.
    started = time.monotonic()
    workers = [threading.Thread(target=post_sessions, args=(arguments.events // 8,)) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    figures["seed_seconds"] = round(time.monotonic() - started, 1)

    options = webdriver.ChromeOptions()
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]:
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path="/usr/bin/chromedriver"), options=options)
    wait = WebDriverWait(driver, 120, poll_frequency=0.02)
    url = f"http://127.0.0.1:{port}"
    try:
        # First load to an interactive sign-in form, cold cache each time.
        loads = []
        for _ in range(arguments.loads):
            driver.execute_cdp_cmd("Network.clearBrowserCache", {})
            start = time.monotonic()
            driver.get(url + "/")
            wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, "form[aria-label='Sign in'] button")))
            loads.append((time.monotonic() - start) * 1000)
        figures["interactive_ms_median"] = round(statistics.median(loads), 1)
        figures["interactive_ms_max"] = round(max(loads), 1)
        figures["first_load_bytes"] = driver.execute_script(
            "return performance.getEntriesByType('resource').reduce((a, e) => a + (e.transferSize || 0), "
            "performance.getEntriesByType('navigation')[0].transferSize || 0)"
        )
        driver.find_element(By.CSS_SELECTOR, "form[aria-label='Sign in'] input").send_keys(token)
        driver.find_element(By.CSS_SELECTOR, "form[aria-label='Sign in'] button").click()
        wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#nav")))

        # The audit page: the chain verified, the first page of events shown.
        start = time.monotonic()
        driver.get(url + "/#/audit")
        wait.until(lambda d: "chain" in d.find_element(By.CSS_SELECTOR, ".verify").text)
        figures["verify_shown_ms"] = round((time.monotonic() - start) * 1000)
        wait.until(lambda d: d.execute_script("return document.querySelectorAll('.event-row').length > 0"))
        figures["first_page_ms"] = round((time.monotonic() - start) * 1000)

        # Every page of events, 1,000 at a time, into the one list.
        start = time.monotonic()
        pages = 1
        while driver.execute_script("return !document.querySelector('button.secondary').disabled"):
            before = driver.execute_script("return document.querySelector('.virtual .spacer').style.height")
            driver.execute_script("document.querySelector('button.secondary').click()")
            wait.until(
                lambda d: d.execute_script("return document.querySelector('.virtual .spacer').style.height")
                != before
            )
            pages += 1
        figures["pages_loaded"] = pages
        figures["all_pages_seconds"] = round(time.monotonic() - start, 2)
        figures["rows_in_list"] = driver.execute_script(
            "return Math.round(parseFloat(document.querySelector('.virtual .spacer').style.height) / 28)"
        )

        # Scrolling the whole list: 600 px a frame for 400 frames, from the top.
        scroll = driver.execute_async_script(
            """
            const done = arguments[arguments.length - 1];
            const box = document.querySelector('.virtual');
            box.scrollTop = 0;
            const gaps = []; let most = 0; let last = performance.now(); let frames = 0;
            function step(now) {
              gaps.push(now - last); last = now;
              most = Math.max(most, document.querySelectorAll('.event-row').length);
              box.scrollTop += 600;
              if (++frames < 400) requestAnimationFrame(step); else done({gaps, most});
            }
            requestAnimationFrame(step);
            """
        )
        gaps = sorted(scroll["gaps"][1:])
        figures["scroll_frame_ms_p50"] = round(gaps[len(gaps) // 2], 1)
        figures["scroll_frame_ms_p95"] = round(gaps[int(len(gaps) * 0.95)], 1)
        figures["scroll_frame_ms_max"] = round(gaps[-1], 1)
        figures["scroll_frames_over_50ms"] = sum(1 for gap in gaps if gap > 50)
        figures["rows_in_dom_max"] = scroll["most"]
        figures["js_heap_mb"] = round(driver.execute_script("return performance.memory.usedJSHeapSize") / 2**20, 1)

        # The live tail at the end of the list: a burst of 500 events, each one shown as it commits.
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "span.muted").text == "live")
        driver.execute_script("const box = document.querySelector('.virtual'); box.scrollTop = box.scrollHeight;")
        driver.execute_script(
            """
            window.__gaps = []; let last = performance.now();
            (function tick(now) { window.__gaps.push(now - last); last = now; requestAnimationFrame(tick); })(last);
            """
        )
        rows_before = figures["rows_in_list"]
        start = time.monotonic()
        post_sessions(500)
        posted = time.monotonic()
        wait.until(
            lambda d: d.execute_script(
                "return Math.round(parseFloat(document.querySelector('.virtual .spacer').style.height) / 28)"
            )
            >= rows_before + 500
        )
        figures["tail_burst_events"] = 500
        figures["tail_burst_post_seconds"] = round(posted - start, 2)
        figures["tail_last_event_after_post_ms"] = round((time.monotonic() - posted) * 1000)
        burst = sorted(driver.execute_script("return window.__gaps.slice(1)"))
        figures["tail_frame_ms_p95"] = round(burst[int(len(burst) * 0.95)], 1)
        figures["tail_frame_ms_max"] = round(burst[-1], 1)
        figures["tail_follows_end"] = driver.execute_script(
            "const box = document.querySelector('.virtual');"
            "return box.scrollTop + box.clientHeight >= box.scrollHeight - 60"
        )
    finally:
        driver.quit()
    print(json.dumps(figures))
finally:
    gateway.terminate()
    gateway.wait(timeout=20)
