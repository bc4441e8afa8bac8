"""A headless Chromium that reads the built book offline, driven by Selenium.

``offline_chrome()`` starts Debian's chromium through its chromedriver (``make browser``
installs both; ``CHROMIUM`` and ``CHROMEDRIVER`` name others) with every network request
failing: host names resolve to nothing and any http(s) request goes to a proxy that is not
there. Pages are opened as ``file://`` URLs, so a page that works here works for a reader
with no connection. The browser keeps its console and network logs, read by
:func:`console_errors` and :func:`remote_requests`.
"""

import json
import os
import shutil
from pathlib import Path

NO_BROWSER = (
    "no Chromium and chromedriver on this machine: `make browser` installs Debian's chromium and "
    "chromium-driver (or set CHROMIUM and CHROMEDRIVER to their paths)"
)


def browser_paths() -> tuple[str, str] | None:
    """(chromium, chromedriver) executables, or None when either is missing."""
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    if not chromium or not driver:
        return None
    return chromium, driver


def offline_chrome(width: int = 1200, height: int = 900):
    """A Selenium Chrome driver on headless Chromium with no network at all."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    paths = browser_paths()
    if paths is None:
        raise RuntimeError(NO_BROWSER)
    chromium, driver = paths
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",  # root in a container
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
        # offline: names resolve to nothing, and anything that still tries goes nowhere
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=http://127.0.0.1:9",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--allow-file-access-from-files",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=driver))


def console_errors(driver) -> list[str]:
    """Console messages of level SEVERE since the last call (page errors included)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def requested_urls(driver) -> list[str]:
    """Every URL the page asked for since the last call (from Chrome's network log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def remote_requests(driver) -> list[str]:
    """The requested URLs that would leave the machine (anything but file:, data:, blob:, about:)."""
    local = ("file:", "data:", "blob:", "about:", "chrome:", "devtools:")
    return [url for url in requested_urls(driver) if not url.startswith(local)]


def page_url(html_dir: Path, page: str) -> str:
    """file:// URL of a built page ("book/ch09_generation")."""
    return (html_dir / f"{page}.html").resolve().as_uri()
