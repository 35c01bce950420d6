"""The web UI in a real headless Chromium, driven by Selenium.

Run by tests/e2e/web_ui.rs inside the test's network namespace, with:
  BASE        http://SERVER:8080
  SETUP_LINK  the first admin's one-time link, from `marrow serve`
  MARROW      the marrow binary;  DATA_DIR  the server's data directory
  CLIENT      the marrow-client binary
  SOURCE      a disk image to capture;  TARGET  a blank disk to restore onto
  MAC_A, MAC_B  the hosts of the capture and the restore
  SHOTS       where the screenshots go
  DRIVERS_ZIP a ZIP of a driver package
The server is a site of an upstream "hq", which holds the image "fleet".
Prints one line per scenario; exits non-zero at the first that fails.
"""

import json
import os
import subprocess
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

ENV = os.environ
BASE = ENV["BASE"]
SHOTS = ENV["SHOTS"]


def say(msg):
    print("ui:", msg, flush=True)


def marrow(*args):
    out = subprocess.run(
        [ENV["MARROW"], "--data-dir", ENV["DATA_DIR"], *args],
        capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise AssertionError(f"marrow {' '.join(args)}: {out.stderr}")
    return out.stdout


def client(kind, token, disk):
    return subprocess.Popen(
        [ENV["CLIENT"], kind, "--json", "--server", BASE, "--disk", disk],
        env={**ENV, "MARROW_TOKEN": token},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def task_call(path, token, body):
    """A call of the client API, as the imaging client makes it."""
    req = urllib.request.Request(
        BASE + path, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status


def browser():
    opts = Options()
    opts.binary_location = "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"]:
        opts.add_argument(a)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def wait(what, cond, secs=60):
    deadline = time.time() + secs
    last = None
    while time.time() < deadline:
        try:
            last = cond()
            if last:
                return last
        except Exception as e:  # the page may be mid-redraw
            last = e
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def field(d, name):
    return d.find_element(By.NAME, name)


def sign_in(d, name, password):
    d.get(BASE + "/login")
    field(d, "name").send_keys(name)
    field(d, "password").send_keys(password)
    d.find_element(By.ID, "sign-in").click()
    wait("the dashboard", lambda: d.find_element(By.TAG_NAME, "h1").text == "Dashboard")


def sign_out(d):
    d.find_element(By.CSS_SELECTOR, "form.who button").click()
    wait("the sign-in page", lambda: "/login" in d.current_url)


def set_password(d, link, password, name=None):
    d.get(link)
    if name:
        field(d, "name").send_keys(name)
    field(d, "password").send_keys(password)
    d.find_element(By.TAG_NAME, "button").click()
    wait("the password to be set", lambda: "can now sign in" in d.page_source)


def task_state(d):
    return d.find_element(By.CSS_SELECTOR, "#task [data-state]").text


def bar_value(d):
    return int(d.find_element(By.CSS_SELECTOR, "#task .bar").get_attribute("aria-valuenow"))


def main():
    d = browser()
    try:
        # 1. First start: the setup link makes the admin; out, and in again.
        set_password(d, ENV["SETUP_LINK"], "alice-long-password", name="alice")
        d.find_element(By.LINK_TEXT, "Sign in").click()
        sign_in(d, "alice", "alice-long-password")
        sign_out(d)
        sign_in(d, "alice", "alice-long-password")
        d.save_screenshot(os.path.join(SHOTS, "dashboard-empty.png"))
        say("1 setup, sign out and sign in: ok")

        # 2. A shell client captures; the bar moves to 100 % without a reload.
        made = json.loads(marrow("task", "capture", "--host", ENV["MAC_A"], "--image", "lab",
                                 "--show-token", "--json"))
        d.get(f"{BASE}/tasks/{made['id']}")
        d.execute_script("window.__marrowMarker = 'still here';")
        # A small disk images in well under a second, faster than the client
        # reports: hold the task at 40 % through the client API first, as a
        # client would, for the running screenshot (and a first live move).
        task_call("/api/v1/task/claim", made["token"], {})
        task_call("/api/v1/task/progress", made["token"], {
            "phase": "capture", "done_bytes": 8 << 20, "total_bytes": 20 << 20,
            "rate": 12 << 20, "eta_secs": 1})
        wait("the bar at 40 %", lambda: bar_value(d) == 40 and task_state(d) == "running")
        d.save_screenshot(os.path.join(SHOTS, "task-running.png"))
        # The real client resumes the claimed task and ends it.
        proc = client("capture", made["token"], ENV["SOURCE"])
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        wait("the bar at 100 %", lambda: bar_value(d) == 100 and task_state(d) == "done")
        assert d.execute_script("return window.__marrowMarker") == "still here", "the page reloaded"
        wait("the report", lambda: d.find_element(By.ID, "report"))
        d.get(f"{BASE}/hosts/{ENV['MAC_A']}")
        wait("the inventory", lambda: "PCI devices" in d.page_source and "Disks" in d.page_source)
        d.save_screenshot(os.path.join(SHOTS, "host.png"))
        say("2 capture with live progress and the host's inventory: ok")

        # Drivers: a ZIP uploaded from the page (with its bar), listed, and
        # previewed against the host's reported devices.
        d.get(BASE + "/drivers")
        d.find_element(By.CSS_SELECTOR, "form[data-upload] input[type=file]").send_keys(ENV["DRIVERS_ZIP"])
        d.find_element(By.CSS_SELECTOR, "form[data-upload] button").click()
        wait("the package listed", lambda: "netkvm-amd64" in d.find_element(By.ID, "packages").text)
        d.get(f"{BASE}/hosts/{ENV['MAC_A']}?os=win11-x64")
        wait("the driver preview", lambda: "devices have a stored driver" in d.page_source)
        say("drivers: upload with progress, list and preview: ok")

        # 5. A bad disk rule is named next to its field.
        d.get(f"{BASE}/images/lab")
        field(d, "host").send_keys(ENV["MAC_B"])
        field(d, "disk").send_keys("sizzle=1")
        d.find_element(By.ID, "make-task").click()
        err = wait("the disk rule's error",
                   lambda: d.find_element(By.CSS_SELECTOR, "[data-error-for=disk]"))
        assert err.text, "empty error"
        assert field(d, "disk").get_attribute("aria-invalid") == "true"
        assert field(d, "disk").get_attribute("value") == "sizzle=1", "the input was lost"
        say(f"5 bad disk rule: ok ({err.text})")

        # 3. A restore from the image page runs; its report and who made it show.
        d.get(f"{BASE}/images/lab")
        d.save_screenshot(os.path.join(SHOTS, "image.png"))
        field(d, "host").send_keys(ENV["MAC_B"])
        field(d, "show_token").click()
        d.find_element(By.ID, "make-task").click()
        token = wait("the token", lambda: d.find_element(By.ID, "task-token").text.strip())
        d.find_element(By.CSS_SELECTOR, "p.notice a").click()
        proc = client("restore", token, ENV["TARGET"])
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        wait("the restore done", lambda: task_state(d) == "done")
        wait("the report", lambda: "fetched" in d.find_element(By.ID, "report").text)
        task_url = d.current_url
        d.get(BASE + "/audit")
        rows = d.find_elements(By.CSS_SELECTOR, "#audit tbody tr")
        assert any("user alice" in r.text and "task.restore" in r.text for r in rows), \
            [r.text for r in rows]
        d.get(BASE + "/")
        d.save_screenshot(os.path.join(SHOTS, "dashboard.png"))
        say("3 restore from the image page, report and audit: ok")

        # A room restore from the image page: both hosts in one group; a bad
        # wait is named at its field; the session lists both receivers,
        # waiting, and is cancelled from its page.
        marrow("host", "add", ENV["MAC_A"], "--name", "lab-a", "--group", "room-1")
        marrow("host", "add", ENV["MAC_B"], "--name", "lab-b", "--group", "room-1")
        d.get(f"{BASE}/images/lab")
        room = lambda name: d.find_element(By.CSS_SELECTOR, f"#session-form [name={name}]")
        Select(room("group")).select_by_value("room-1")
        room("max_wait").send_keys("soon")
        d.find_element(By.ID, "make-session").click()
        err = wait("the wait's error",
                   lambda: d.find_element(By.CSS_SELECTOR, "#session-form [data-error-for=max_wait]"))
        why = err.text
        assert why, "empty error"
        assert Select(room("group")).first_selected_option.get_attribute("value") == "room-1"
        room("max_wait").clear()
        room("max_wait").send_keys("10m")
        d.find_element(By.ID, "make-session").click()
        wait("the session page", lambda: "/sessions/" in d.current_url)
        assert "waiting" in d.find_element(By.CSS_SELECTOR, ".badge").text
        receivers = d.find_elements(By.CSS_SELECTOR, "table tbody tr")
        assert len(receivers) == 2 and all("pending" in r.text for r in receivers), \
            [r.text for r in receivers]
        d.save_screenshot(os.path.join(SHOTS, "session.png"))
        d.find_element(By.ID, "cancel").click()
        wait("the session cancelled", lambda: "cancelled" in d.find_element(By.CSS_SELECTOR, ".badge").text)
        say(f"room session from the image page: ok ({why})")

        # A pull from hq, started from the sites page, followed live; the
        # image it brought names its signature and hq as its origin.
        d.get(BASE + "/sites")
        d.find_element(By.ID, "pull-hq").click()
        wait("the pull done", lambda: "done" in d.find_element(
            By.CSS_SELECTOR, "[data-sync=hq] [data-state]").text, secs=120)
        wait("its counts", lambda: "1 published" in d.find_element(
            By.CSS_SELECTOR, "[data-sync=hq] [data-counts]").text)
        # The page redraws itself in place once the pull has ended.
        wait("the history redrawn", lambda: "running" not in d.find_element(By.TAG_NAME, "main").text)
        d.save_screenshot(os.path.join(SHOTS, "sites.png"))
        d.get(BASE + "/images")
        row = next(r for r in d.find_elements(By.CSS_SELECTOR, "tbody tr") if "fleet" in r.text)
        assert "site hq" in row.text, row.text
        assert "this server" in next(
            r for r in d.find_elements(By.CSS_SELECTOR, "tbody tr") if r.text.startswith("lab")).text
        d.get(BASE + "/images/fleet")
        facts = d.find_element(By.CSS_SELECTOR, "dl.facts").text
        assert "valid, by ed25519:" in facts and "site hq" in facts, facts
        versions = d.find_elements(By.CSS_SELECTOR, "#versions tbody tr")
        assert len(versions) == 1 and "site hq" in versions[0].text, [v.text for v in versions]
        d.get(BASE + "/")
        wait("the dashboard's sync status", lambda: "done" in d.find_element(
            By.CSS_SELECTOR, "[data-sync=hq] [data-state]").text)
        d.get(BASE + "/audit")
        assert any("sync.pull" in r.text and "user alice" in r.text
                   for r in d.find_elements(By.CSS_SELECTOR, "#audit tbody tr"))
        say("sites: pull now, live run, origin and signature: ok")

        # A tablet's width: nothing wider than the window (a wide table
        # scrolls inside itself).
        d.set_window_size(820, 1180)
        for page in ["/", "/hosts", "/hosts/" + ENV["MAC_A"], "/images/lab", "/tasks",
                     "/sessions", "/schedules", "/drivers", "/sites", "/audit", "/users"]:
            d.get(BASE + page)
            wide = d.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert wide <= 0, f"{page} is {wide} px wider than a tablet's window"
        d.get(BASE + "/")
        d.save_screenshot(os.path.join(SHOTS, "dashboard-tablet.png"))
        d.set_window_size(1280, 900)
        say("tablet width: ok")

        # Schedules and tokens from their pages: a bad pattern is named at
        # its field; a token's secret is shown once.
        d.get(BASE + "/schedules")
        field(d, "name").send_keys("nightly")
        field(d, "cron").send_keys("0 25 * * *")
        field(d, "command").send_keys(f"task restore --host {ENV['MAC_B']} --image lab")
        d.find_element(By.CSS_SELECTOR, "form[action='/schedules'] button").click()
        wait("the cron error", lambda: d.find_element(By.CSS_SELECTOR, "[data-error-for=cron]").text)
        cron = field(d, "cron")
        cron.clear()
        cron.send_keys("0 22 * * 1-5")
        d.find_element(By.CSS_SELECTOR, "form[action='/schedules'] button").click()
        wait("the schedule listed", lambda: "nightly" in d.find_element(By.TAG_NAME, "h2").text)
        d.find_element(By.CSS_SELECTOR, "form[action='/schedules/nightly/pause'] button").click()
        wait("the schedule paused", lambda: "paused" in d.find_element(By.TAG_NAME, "h2").text)
        d.get(BASE + "/users")
        field(d, "token_name").send_keys("backup-script")
        d.find_element(By.ID, "add-token").click()
        secret = wait("the token's secret", lambda: d.find_element(By.ID, "token-secret").text)
        assert secret.startswith("mrw_"), secret
        assert "backup-script" in marrow("token", "list")
        d.find_element(By.CSS_SELECTOR, "form[action$='/revoke'] button").click()
        wait("the token revoked", lambda: "revoked" in marrow("token", "list"))
        say("schedule and token from their pages: ok")

        # 4. A viewer sees no actions, and a forged post is refused.
        out = marrow("user", "add", "vera", "--role", "viewer")
        link = next(w for w in out.split() if "/setup?token=" in w)
        sign_out(d)
        set_password(d, link, "vera-long-password")
        sign_in(d, "vera", "vera-long-password")
        for page in ["/", "/hosts/" + ENV["MAC_A"], "/images/lab", task_url.replace(BASE, ""),
                     "/schedules", "/sessions", "/drivers", "/sites"]:
            d.get(BASE + page)
            # Actions post (or upload); a GET form only looks something up.
            forms = [f.get_attribute("action") or f.get_attribute("data-upload")
                     for f in d.find_elements(By.TAG_NAME, "form")
                     if (f.get_attribute("method") == "post" or f.get_attribute("data-upload"))
                     and not (f.get_attribute("action") or "").endswith("/logout")]
            assert not forms, f"{page} shows actions to a viewer: {forms}"
        status = d.execute_script("""
            const csrf = document.querySelector('input[name=csrf]').value;
            const body = new URLSearchParams({csrf, kind: 'capture', host: arguments[0], image: 'x'});
            return fetch('/tasks', {method: 'POST', body}).then(r => r.status);
        """, ENV["MAC_A"])
        assert status == 403, status
        say("4 viewer: no actions, a forged post gets 403: ok")
    finally:
        d.quit()


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print("ui: FAILED:", e, file=sys.stderr)
        sys.exit(1)
