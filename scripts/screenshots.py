"""Screenshots of every kind of page at phone (390 px) and desktop (1280 px) width, and a report of every page
a reader would have to scroll sideways.

It starts nothing: it visits a site already running (the demo, `make demo`, or `manage.py runserver`) with
headless Chromium, driven over the DevTools protocol on a pipe (--remote-debugging-pipe), so it needs nothing
but Python's standard library and Chromium:

    python scripts/screenshots.py                                # http://127.0.0.1:8000, into docs/screenshots/
    python scripts/screenshots.py --base-url http://127.0.0.1:8773 --only home,source,list

It finds its pages by following the site's own links (home -> model -> source -> feature, the run on the model
page, ...). It shoots the sign-in and sign-up pages signed out, then signs in as --username (signing up with
that name first if the site does not know it; or --session to use a session cookie). Where the site has no
list yet it makes one of a few features (a demo has none), bookmarks two features if the user has no
bookmarks, and starts a training-camp round for the round page: the pages need something to show.

Each page is written as docs/screenshots/<name>-390.png and <name>-1280.png (the viewport, not the whole
page: the top of a page is what a newcomer sees first). Then a report: a page whose document is wider than
the window (the reader scrolls the whole page sideways) is an error, and the script exits 1; a box that
scrolls sideways inside a page (a wide table in .table-scroll) is listed as a warning.
"""

import argparse
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

ROOT = Path(__file__).resolve().parents[1]
WIDTHS = (390, 1280)
HEIGHT = 900
PHONE_MAX_WIDTH = 600
TEXT = "The quick brown fox jumps over the lazy dog. def read(path): return open(path).read()"

# In the page: what overflows the window. An element counts when it sticks out to the right and no ancestor
# clips or scrolls it; only the outermost such elements are named. Boxes that scroll sideways inside the page
# are listed apart.
MEASURE = """(() => {
  const width = document.documentElement.clientWidth;
  const name = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
    [...e.classList].slice(0, 3).map(c => '.' + c).join('');
  const clipped = (e) => { for (let p = e.parentElement; p; p = p.parentElement) {
    if (getComputedStyle(p).overflowX !== 'visible') return p !== document.body && p !== document.documentElement; }
    return false; };
  const out = [];
  for (const e of document.body.querySelectorAll('*')) {
    const r = e.getBoundingClientRect();
    if (r.right > width + 1 && r.width > 0 && !clipped(e) && !out.some(o => o.contains(e))) out.push(e);
  }
  const boxes = [...document.body.querySelectorAll('*')].filter(e => {
    const o = getComputedStyle(e).overflowX;
    return (o === 'auto' || o === 'scroll') && e.scrollWidth > e.clientWidth + 1; });
  return {width, scrollWidth: document.documentElement.scrollWidth,
    overflowing: out.slice(0, 5).map(e => `${name(e)} (right edge ${Math.round(e.getBoundingClientRect().right)} px)`),
    scrollBoxes: boxes.slice(0, 5).map(e => name(e) + ' (' + e.scrollWidth + ' px in ' + e.clientWidth + ')')};
})()"""

POST = """(async (url, fields) => {
  const token = (document.querySelector('[name=csrfmiddlewaretoken]') || {}).value ||
    (document.cookie.match(/csrftoken=([^;]+)/) || [])[1] || '';
  const body = new URLSearchParams({...fields, csrfmiddlewaretoken: token});
  const headers = {'X-CSRFToken': token};
  const response = await fetch(url, {method: 'POST', body, credentials: 'same-origin', headers});
  return response.url;
})"""


class Browser:
    """Headless Chromium and one tab, over the DevTools protocol on a pipe: Chromium reads commands from its
    file descriptor 3 and writes answers and events to 4, each a JSON message ended by a NUL byte."""

    def __init__(self, chromium: str) -> None:
        to_child, self._to_browser = os.pipe()
        self._from_browser, from_child = os.pipe()

        def give_pipes() -> None:
            a, b = os.dup(to_child), os.dup(from_child)  # out of the way of 3 and 4 before dup2
            os.dup2(a, 3)
            os.dup2(b, 4)

        self._profile = tempfile.TemporaryDirectory(prefix="screenshots-chromium-")
        command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio"]
        command += ["--remote-debugging-pipe", f"--user-data-dir={self._profile.name}", "about:blank"]
        self._process = subprocess.Popen(
            command, preexec_fn=give_pipes, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        os.close(to_child)
        os.close(from_child)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self._session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Page.enable", session=True)

    def _read_message(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, *, session: bool = False, **params) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self._session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._read_message()
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error'].get('message')}")
                return answer.get("result", {})
            self._events.append(answer)

    def wait_for_load(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while self._events:
                if self._events.pop(0).get("method") == "Page.loadEventFired":
                    time.sleep(0.2)  # htmx's load handlers and web fonts
                    return
            self._events.append(self._read_message())
        raise TimeoutError("the page did not finish loading")

    def go(self, url: str) -> None:
        self._events.clear()
        self.call("Page.navigate", session=True, url=url)
        self.wait_for_load()

    def evaluate(self, expression: str, *, navigates: bool = False):
        if navigates:
            self._events.clear()
        result = self.call(
            "Runtime.evaluate", session=True, expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"in the page: {result['exceptionDetails'].get('text')} ({expression[:60]}...)")
        if navigates:
            self.wait_for_load()
        return result.get("result", {}).get("value")

    def wait_for(self, selector: str, timeout: float = 10) -> bool:
        """Wait until the page holds an element matching `selector` (drawn by its own script after loading)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.evaluate(f"!!document.querySelector({json.dumps(selector)})"):
                time.sleep(0.3)
                return True
            time.sleep(0.2)
        return False

    def url(self) -> str:
        return self.evaluate("location.href")

    def links(self, selector: str = "a[href]") -> list[str]:
        """The hrefs of the links matching `selector`, absolute, in document order."""
        return self.evaluate(f"[...document.querySelectorAll({json.dumps(selector)})].map(a => a.href)")

    def submit(self, form_selector: str, fields: dict[str, str | bool]) -> None:
        """Fill a form's fields (by name) and submit it as a reader would, waiting for the next page."""
        script = f"""(() => {{
          const form = document.querySelector({json.dumps(form_selector)});
          for (const [name, value] of Object.entries({json.dumps(fields)})) {{
            const input = form.querySelector(`[name="${{name}}"]`);
            if (input.type === 'checkbox') input.checked = value; else input.value = value;
          }}
          form.requestSubmit();
        }})()"""
        self.evaluate(script, navigates=True)

    def post(self, url: str, fields: dict[str, str]) -> str:
        """POST a form's fields with the page's CSRF token (the page must be on the site); the final URL."""
        return self.evaluate(f"({POST})({json.dumps(url)}, {json.dumps(fields)})")

    def set_width(self, width: int) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride", session=True, width=width, height=HEIGHT, deviceScaleFactor=1,
            mobile=width < PHONE_MAX_WIDTH,
        )  # fmt: skip

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", session=True, format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (RuntimeError, OSError):
            pass
        self._process.wait(timeout=10)
        self._profile.cleanup()


@dataclass
class Shot:
    name: str
    url: str
    overflow: dict[int, dict] = field(default_factory=dict)


def first(links: list[str], pattern: str) -> str | None:
    return next((link for link in links if re.search(pattern, link)), None)


class Tour:
    """Finds one page of each kind on the site, shooting each as it goes (some pages need the state the
    ones before leave: signed out, then in; a round once started)."""

    def __init__(self, browser: Browser, base: str, out: Path, only: set[str] | None) -> None:
        self.browser, self.base, self.out, self.only = browser, base.rstrip("/") + "/", out, only
        self.shots: list[Shot] = []
        self.missing: list[str] = []

    def at(self, path: str) -> str:
        return urljoin(self.base, path)

    def shoot(
        self, name: str, url: str | None, *, then: str | None = None, swaps: bool = False, ready: str | None = None
    ) -> None:
        """Both widths of `url`: after running `then` in the page, if given (a script that submits a form and
        loads the next page, or with `swaps` one that htmx answers in place), and once an element matching
        `ready` is there."""
        if self.only and name not in self.only:
            return
        if url is None:
            self.missing.append(name)
            return
        shot = Shot(name, url)
        for width in WIDTHS:
            self.browser.set_width(width)
            self.browser.go(url)
            if then:
                self.browser.evaluate(then, navigates=not swaps)
            if ready and not self.browser.wait_for(ready):
                print(f"  {name}: no {ready} after 10 s", file=sys.stderr)
            self.browser.screenshot(self.out / f"{name}-{width}.png")
            shot.overflow[width] = self.browser.evaluate(MEASURE)
        self.shots.append(shot)
        print(f"  {name}: {url}", file=sys.stderr)

    def sign_in(self, username: str, password: str, session: str | None) -> None:
        browser = self.browser
        if session:
            browser.call("Network.setCookie", name="sessionid", value=session, url=self.base)
            return
        browser.go(self.at("accounts/login/"))
        browser.submit("form.login, form[action*='login']", {"login": username, "password": password})
        if "/accounts/login/" not in browser.url():
            return
        browser.go(self.at("accounts/signup/"))
        fields = {"username": username, "email": f"{username}@example.com", "password1": password}
        browser.submit("form.signup, form[action*='signup']", fields | {"password2": password})
        if "/accounts/" in browser.url():
            raise SystemExit(f"Could not sign in or sign up as {username!r}: see {browser.url()}")

    def run(self, username: str, password: str, session: str | None) -> None:
        browser, at = self.browser, self.at
        browser.set_width(WIDTHS[-1])
        self.shoot("login", at("accounts/login/"))
        self.shoot("signup", at("accounts/signup/"))
        self.sign_in(username, password, session)
        username = browser.evaluate(
            "(document.querySelector('a[href^=\"/u/\"]') || {pathname: '/u//'}).pathname.split('/')[2]"
        )

        self.shoot("home", at(""))
        browser.go(at(""))
        home = browser.links()
        model = first(browser.links("table a[href]"), r"^[^?#]*://[^/]+/[^/]+/$")
        sources = browser.links(".model-sources a")
        explained = browser.links(".feature-list.explained a") or browser.links(".feature-list a")
        self.shoot("model", model)
        run = None
        if model:
            browser.go(model)
            run = first(browser.links(), r"/runs/\d+/$")
        explained_feature = explained[0] if explained else None
        # The source of an explained feature: its index shows explanations beside the features.
        source = explained_feature.rstrip("/").rsplit("/", 1)[0] + "/" if explained_feature else None
        source = source or (sources[-1] if sources else None)
        self.shoot("source", source)
        feature = dead = None
        if source:
            browser.go(source)
            feature = first(browser.links("table a[href]"), r"/\d+/$")
            for candidate in sources:
                browser.go(candidate + "?sort=max_activation")
                cells = browser.evaluate(
                    "[...document.querySelectorAll('table tbody tr')].slice(0, 1).map(r => r.innerText)"
                )
                if cells and re.search(r"\b0\.000\b", cells[0]):
                    dead = first(browser.links("table a[href]"), r"/\d+/$")
                    break
        explained_feature = explained_feature or feature
        self.shoot("feature", explained_feature)
        self.shoot("feature-dead", dead)

        model_slug = model.rstrip("/").rsplit("/", 1)[-1] if model else None
        fill_text = (
            f"(() => {{ const f = document.querySelector('form[method=post] textarea').form;"
            f" f.querySelector('textarea').value = {json.dumps(TEXT)}; f.requestSubmit(); }})()"
        )
        self.shoot("text", model_slug and at(f"text-features/{model_slug}/"), then=fill_text)
        # The graph form with the error a bad target gets (refused before any run is queued: nothing recorded).
        bad_target = (
            "(() => { const f = document.querySelector('form.trace-form');"
            f" f.querySelector('textarea').value = {json.dumps(TEXT)};"
            " f.querySelector('[name=target]').value = 'no-such-source:1@2'; f.requestSubmit(); })()"
        )
        self.shoot("graph-trace", model_slug and at(f"graphs/{model_slug}/new/"), then=bad_target)
        self.shoot("search", at("search/?q=loop"))
        self.shoot("recent", at("recent/"))

        history = revision = diff = None
        if explained_feature:
            browser.go(explained_feature)
            history = first(browser.links(), r"/explanations/\d+/$")
        if history:
            browser.go(history)
            revision = first(browser.links(), r"/explanations/\d+/revisions/\d+/$")
            diff = first(browser.links(), r"/explanations/\d+/diff/\?")
            if diff is None and revision:  # one revision only: compared with itself
                revision_pk = revision.rstrip("/").rsplit("/", 1)[-1]
                diff = f"{history}diff/?from={revision_pk}&to={revision_pk}"
        self.shoot("explanation-history", history)
        self.shoot("explanation-diff", diff)
        self.shoot("explanation-revision", revision)

        self.shoot("lists", at("lists/"))
        browser.go(at("lists/"))
        a_list = first(browser.links(), r"/lists/\d+/$")
        if a_list is None and (features := [link for link in home if re.search(r"/\d+/$", link)][:4]):
            browser.go(at("lists/new/"))
            browser.submit("main form[method=post]", {"name": "Worth a look", "is_public": True})
            a_list = browser.url()
            list_pk = a_list.rstrip("/").rsplit("/", 1)[-1]
            for link in features:
                browser.post(link + "add-to-list/", {"feature_list": list_pk, "note": ""})
        self.shoot("list", a_list)
        browser.go(at("bookmarks/"))
        if not browser.evaluate("!!document.querySelector('main table')"):
            for link in [link for link in home if re.search(r"/\d+/$", link)][:2]:
                browser.post(link + "bookmark/", {"bookmark": "1"})
        self.shoot("bookmarks", at("bookmarks/"))
        self.shoot("profile", username and at(f"u/{username}/"))
        self.shoot("watchlist", at("watchlist/"))

        self.shoot("play", at("play/"))
        self.shoot("play-camp", at("play/camp/"))
        browser.go(at("play/"))
        round_link = first(browser.links(), r"/play/round/\d+/$")
        if round_link is None:
            browser.go(at("play/camp/"))
            browser.evaluate("document.querySelector('form[action*=\"/predict/\"]').requestSubmit()", navigates=True)
            round_link = first([browser.url()], r"/play/round/\d+/$")
        self.shoot("play-round", round_link)
        answer = "document.querySelector('.answer-form button[type=submit]').click()"
        self.shoot("play-round-reveal", round_link, then=answer, swaps=True, ready=".reveal-line, .reveal-numbers")
        self.shoot("play-daily", at("play/daily/"))
        self.shoot("play-explain", at("play/explain/"))
        self.shoot("play-verify", at("play/verify/"))
        self.shoot("play-leaderboard", at("play/leaderboard/"))
        self.shoot("play-shop", at("play/shop/"))

        self.shoot("run", run)
        self.shoot("steer", model_slug and at(f"steer/{model_slug}/"))
        self.shoot("upload-model", at("upload/model/"))
        self.shoot("upload-dictionary", model_slug and at(f"upload/dictionary/{model_slug}/"))
        self.shoot("api", at("api/v1/"))
        self.shoot("api-docs", at("api/v1/docs/"), ready=".swagger-ui .info")
        self.shoot("not-found", at("no-such-model/no-such-source/7/"))

    def report(self) -> int:
        """Print what overflows; 1 if some page scrolls sideways as a whole."""
        errors = 0
        for shot in self.shots:
            for width, measured in shot.overflow.items():
                if measured["scrollWidth"] > measured["width"]:
                    errors += 1
                    print(
                        f"SIDEWAYS SCROLL {shot.name} at {width} px: the page is {measured['scrollWidth']} px wide "
                        f"in {measured['width']}: " + ", ".join(measured["overflowing"] or ["(nothing named)"])
                    )
                if measured["scrollBoxes"] and width < PHONE_MAX_WIDTH:
                    print(f"scroll box   {shot.name} at {width} px: " + ", ".join(measured["scrollBoxes"]))
        for name in self.missing:
            print(f"not found    {name}: the site has no such page to show (nothing computed or written yet?)")
        print(f"{len(self.shots)} pages at {', '.join(map(str, WIDTHS))} px into {self.out}; {errors} scroll sideways")
        return 1 if errors else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--username", default="screenshots", help="signed up if the site does not know it")
    parser.add_argument("--password", default="Kettle-Orbit-4711")
    parser.add_argument("--session", help="a sessionid cookie to use instead of signing in")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--only", help="comma-separated page names (e.g. home,list), default all")
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    browser = Browser(args.chromium)
    try:
        tour = Tour(browser, args.base_url, args.out, set(args.only.split(",")) if args.only else None)
        tour.run(args.username, args.password, args.session)
        return tour.report()
    finally:
        browser.close()


if __name__ == "__main__":
    sys.exit(main())
