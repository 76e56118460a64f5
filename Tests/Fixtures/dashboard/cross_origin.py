"""A page from another origin calls the gateway's API in headless Chromium: CORS as a real browser applies it.

    cross_origin.py GATEWAY_URL TOKEN ALLOWED_PORT FOREIGN_PORT

Serves one page on each port (two origins other than the gateway's; the gateway's config allows the first), opens
each in Chromium, and lets the page create a session with a bearer token through fetch() (a preflighted request).
Prints one JSON object: what each page saw ("ok 201 <id>" or "blocked: <error>").
"""
import http.server
import json
import sys
import threading

from selenium import webdriver
from selenium.webdriver.support.ui import WebDriverWait

GATEWAY, TOKEN, ALLOWED, FOREIGN = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

PAGE = f"""<!doctype html><title>waiting</title><script>
fetch({json.dumps(GATEWAY + "/api/sessions")}, {{
  method: "POST",
  headers: {{"Authorization": "Bearer " + {json.dumps(TOKEN)}, "Content-Type": "application/json"}},
  body: "{{}}",
}}).then(async (r) => {{ document.title = "ok " + r.status + " " + (await r.json()).id; }})
  .catch((e) => {{ document.title = "blocked: " + e; }});
</script>""".encode()


class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args):
        pass


servers = [http.server.ThreadingHTTPServer(("127.0.0.1", port), Page) for port in (ALLOWED, FOREIGN)]
for server in servers:
    threading.Thread(target=server.serve_forever, daemon=True).start()

options = webdriver.ChromeOptions()
for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]:
    options.add_argument(argument)
options.binary_location = "/usr/bin/chromium"
driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path="/usr/bin/chromedriver"), options=options)
seen = {}
try:
    for name, port in (("allowed", ALLOWED), ("foreign", FOREIGN)):
        driver.get(f"http://127.0.0.1:{port}/")
        WebDriverWait(driver, 30).until(lambda d: d.title != "waiting")
        seen[name] = driver.title
finally:
    driver.quit()
    for server in servers:
        server.shutdown()
print(json.dumps(seen))
