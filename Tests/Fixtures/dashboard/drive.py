"""Drives the dashboard in headless Chromium (Debian's chromium + chromium-driver) with selenium.

    drive.py URL TOKEN SCREENSHOTS_DIR

Against a gateway whose model is scripted to (1) call run_command `touch approved.txt` (which waits for a human),
(2) answer with XSS payloads, (3) answer a task. Prints one JSON object of what it saw; each step that fails is
recorded in "problems" with its reason, so the Swift test says which one broke.
"""
import json
import os
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

URL, TOKEN, SHOTS = sys.argv[1], sys.argv[2], sys.argv[3]
seen = {"problems": []}


def problem(step, error):
    seen["problems"].append(f"{step}: {type(error).__name__}: {error}")


def api(method, path, body=None):
    request = urllib.request.Request(
        URL + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


options = webdriver.ChromeOptions()
for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]:
    options.add_argument(argument)
options.binary_location = "/usr/bin/chromium"
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path="/usr/bin/chromedriver"), options=options)
# Pages re-render as their data changes: an element found during a poll may be replaced before it is read, so a
# stale element means "poll again", not a failure.
wait = WebDriverWait(driver, 60, ignored_exceptions=[StaleElementReferenceException])


def shot(name):
    driver.save_screenshot(os.path.join(SHOTS, f"{name}.png"))


def visible(css):
    return wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, css)))


def axe_source():
    """axe-core (Deque's accessibility engine), as PyPI axe-playwright-python ships it; only its JS file is used."""
    import importlib.util

    spec = importlib.util.find_spec("axe_playwright_python")
    with open(os.path.join(spec.submodule_search_locations[0], "axe.min.js")) as source:
        return source.read()


AXE = axe_source()


def accessibility(name):
    """Runs axe-core's WCAG 2 A/AA rules on the page as it is; keeps each violation with its impact and a target."""
    driver.execute_script(AXE)
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},"
        " resultTypes: ['violations']})"
        ".then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length,"
        " targets: v.nodes.slice(0, 6).map(n => String(n.target)), help: v.help}))))"
        ".catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e)}]))"
    )
    seen.setdefault("a11y", {})[name] = result


try:
    # The page's own headers.
    with urllib.request.urlopen(URL + "/", timeout=10) as response:
        seen["csp"] = response.headers.get("Content-Security-Policy", "")
        seen["nosniff"] = response.headers.get("X-Content-Type-Options", "")
    start = time.monotonic()
    driver.get(URL + "/")
    visible("form[aria-label='Sign in'] input")
    seen["interactive_ms"] = round((time.monotonic() - start) * 1000)
    seen["transferred_bytes"] = driver.execute_script(
        "return performance.getEntriesByType('resource').reduce((a, e) => a + (e.transferSize || 0), "
        "performance.getEntriesByType('navigation')[0].transferSize || 0)"
    )

    accessibility("sign-in")

    # A wrong token: a clear error, no way in.
    try:
        field = driver.find_element(By.CSS_SELECTOR, "form[aria-label='Sign in'] input")
        field.send_keys("osp_wrong_token")
        driver.find_element(By.CSS_SELECTOR, "form[aria-label='Sign in'] button").click()
        seen["wrong_token"] = visible("form[aria-label='Sign in'] .notice").text
        shot("sign-in")
    except Exception as error:
        problem("wrong token", error)

    # Sign in.
    field = driver.find_element(By.CSS_SELECTOR, "form[aria-label='Sign in'] input")
    field.clear()
    field.send_keys(TOKEN)
    driver.find_element(By.CSS_SELECTOR, "form[aria-label='Sign in'] button").click()
    visible("form[aria-label='Send a message'] textarea")
    seen["signed_in"] = True
    seen["token_in_storage"] = driver.execute_script("return sessionStorage.getItem('osprey.token') !== null")
    seen["cookies"] = len(driver.get_cookies())

    # Chat: the call waits for a human, is approved inline, the answer streams; the payloads stay text.
    try:
        box = driver.find_element(By.CSS_SELECTOR, "form[aria-label='Send a message'] textarea")
        box.send_keys("Please touch the file.")
        driver.find_element(By.CSS_SELECTOR, "form[aria-label='Send a message'] button[type='submit']").click()
        card = visible(".transcript .approval")
        seen["approval_tool"] = card.find_element(By.CSS_SELECTOR, "h3").text
        shot("chat-approval")
        card.find_element(By.CSS_SELECTOR, "button.approve-once").click()
        wait.until(lambda d: "tokens" in d.find_element(By.ID, "chat-status").text)
        answer = driver.find_element(By.CSS_SELECTOR, ".transcript .msg.assistant:last-child")
        seen["answer"] = " ".join(p.text for p in answer.find_elements(By.CSS_SELECTOR, "p.text"))
        seen["tool_calls"] = [s.text for s in answer.find_elements(By.CSS_SELECTOR, "details summary")]
        seen["injected_elements"] = len(driver.find_elements(By.CSS_SELECTOR, ".transcript img, .transcript script"))
        seen["xss_ran"] = driver.execute_script("return window.__xss === 1")
        try:
            driver.switch_to.alert
            seen["alert"] = True
        except NoAlertPresentException:
            seen["alert"] = False
        shot("chat")
        driver.set_window_size(390, 844)
        time.sleep(0.3)
        seen["narrow_overflow"] = driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        shot("chat-390")
        driver.set_window_size(1280, 900)
    except Exception as error:
        problem("chat", error)
        shot("chat-failed")

    # Tasks: submitted from the page, it completes.
    try:
        driver.get(URL + "/#/tasks")
        visible("form[aria-label='Submit a task'] input").send_keys("from the dashboard")
        driver.find_element(By.CSS_SELECTOR, "form[aria-label='Submit a task'] textarea").send_keys("Say done.")
        driver.find_element(By.CSS_SELECTOR, "form[aria-label='Submit a task'] button").click()
        # Read in the page in one step: the list re-renders as the task moves on, and an element found a moment
        # earlier may be gone by the time its text is asked for.
        row = "const row = document.querySelector('tbody tr:first-child'); return row ? row.innerText : ''"
        wait.until(lambda d: "completed" in d.execute_script(row))
        seen["task_row"] = driver.execute_script(row)
        shot("tasks")
    except Exception as error:
        problem("tasks", error)

    # Memory: stored from the page, found by search with its ranks.
    try:
        driver.get(URL + "/#/memory")
        store = visible("form[aria-label='Store a memory'] textarea")
        store.send_keys("The heron fishes at the north pond at dawn.")
        driver.find_element(By.CSS_SELECTOR, "form[aria-label='Store a memory'] button").click()
        visible("form[aria-label='Store a memory'] .notice.ok")
        driver.find_element(By.CSS_SELECTOR, "form[aria-label='Search memory'] input").send_keys("heron pond")
        driver.find_element(By.CSS_SELECTOR, "form[aria-label='Search memory'] button").click()
        seen["memory_hit"] = visible(".memory").text
        # Edit it in place: the new text is what the search shows.
        driver.find_element(By.XPATH, "//article[contains(@class,'memory')]//button[text()='Edit']").click()
        editor = visible("form.edit textarea")
        editor.clear()
        editor.send_keys("The heron fishes at the south pond at dusk.")
        driver.find_element(By.CSS_SELECTOR, "form.edit button[type='submit']").click()
        # The card is replaced by the saved one: read it fresh each time.
        edited = "return document.querySelector('.memory pre')?.textContent ?? ''"
        wait.until(lambda d: "south pond" in d.execute_script(edited))
        seen["memory_edited"] = driver.execute_script(edited)
        shot("memory")
    except Exception as error:
        problem("memory", error)

    # Audit: the chain verifies, and a new event reaches the live tail.
    try:
        driver.get(URL + "/#/audit")
        seen["verify"] = wait.until(
            lambda d: d.find_element(By.CSS_SELECTOR, ".verify").text
            if "chain" in d.find_element(By.CSS_SELECTOR, ".verify").text
            else False
        )
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "[role='status'].muted, span.muted").text == "live")
        api("POST", "/api/memory", {"content": "A live tail marker.", "title": "tail marker"})
        added = time.monotonic()
        WebDriverWait(driver, 5, poll_frequency=0.05).until(
            lambda d: d.execute_script(
                "const box = document.querySelector('.virtual'); box.scrollTop = box.scrollHeight;"
                "return [...document.querySelectorAll('.event-row .type')].some(e => e.textContent === 'memory.stored')"
            )
        )
        seen["tail_seconds"] = round(time.monotonic() - added, 3)
        # The list holds each event of the ledger once: the first page, the live tail's catch-up and new events.
        try:
            WebDriverWait(driver, 5, poll_frequency=0.05).until(
                lambda d: d.execute_script(
                    "return Math.round(parseFloat(document.querySelector('.virtual .spacer').style.height) / 28)"
                )
                == api("GET", "/api/audit/verify")["count"]
            )
            seen["audit_rows_match_ledger"] = True
        except TimeoutException:
            seen["audit_rows_match_ledger"] = False
        shot("audit")
    except Exception as error:
        problem("audit", error)
        shot("audit-failed")

    for page in ["approvals", "costs", "channels", "system"]:
        try:
            driver.get(URL + f"/#/{page}")
            visible(f"section[aria-label='{page}'] h1")
            time.sleep(0.3)
            seen[f"{page}_errors"] = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".notice.error")]
            shot(page)
        except Exception as error:
            problem(page, error)
    seen["system_text"] = driver.find_element(By.CSS_SELECTOR, "main").text[:2000]

    # Accessibility: every page through axe-core, in the light theme and (system setting) the dark one.
    for scheme in ["light", "dark"]:
        driver.execute_cdp_cmd(
            "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": scheme}]}
        )
        for page in ["chat", "tasks", "memory", "audit", "approvals", "costs", "channels", "system"]:
            try:
                driver.get(URL + f"/#/{page}")
                visible(f"section[aria-label='{page}'] h1")
                time.sleep(0.3)
                accessibility(f"{page}-{scheme}")
            except Exception as error:
                problem(f"accessibility {page} {scheme}", error)
    seen["console"] = [
        entry["message"] for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")
        # the wrong token's 401 is the one failure the page itself asked for
        and "/api/status" not in entry["message"]
    ]
except TimeoutException as error:
    problem("timeout", error)
    shot("timeout")
except Exception as error:
    problem("fatal", error)
finally:
    driver.quit()
print(json.dumps(seen))
