#!/usr/bin/env python3
"""Renders BotHost's web pages in headless Chromium (Debian's package) and checks them
against the HTTP API's JSON and the CLI, on a replayed capture:

  * the DOM Chromium builds (after the page's own script ran): every board's rows, in
    order, with the scores the API answers; each row's movement (▲ ▼ – new) against the
    same window one window earlier, computed here from `bothost top --as-of`;
  * the account page: its rank in each window (the API's leaderboards), the level, XP and
    progress percentage (the API's character), the recent grants each linked to the
    record that earned it;
  * the search box: `/search?q=@handle` lands on that account's page, an unknown one 404s;
  * the chart's y axis for an account pushed past 2^31 XP: compact labels that fit;
  * ETag polling: the page's ETag is answered 304, and the page's only script is inline;
  * screenshots: the boards (account links in the link colour) and the account page (the
    chart's line colour), written to docs/screenshots/.

Ends with 'pages: N passed, N failed'.

    python3 scripts/page_check.py BOTHOST_BINARY
"""
import datetime
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHOTS = os.path.join(ROOT, "docs", "screenshots")
LINK = (0x2D, 0x5B, 0xD1)   # a { color } in WebPages.swift
CHART = (0xE4, 0x57, 0x2E)  # the polyline's stroke
WINDOWS = {"hour": 3600, "day": 86400, "week": 7 * 86400, "month": 30 * 86400}


class Page(html.parser.HTMLParser):
    """The parts of a page the checks read: board rows, ids' text and attributes,
    record links, chart labels, scripts."""

    def __init__(self, text):
        super().__init__()
        self.rows = {}          # window -> [{"did", "cells": [...]}]
        self.ids = {}           # id -> attributes
        self.text_of = {}       # id -> text
        self.records = []       # data-uri of record links
        self.ylabels = []
        self.scripts = []       # attributes of <script>
        self.h1 = ""
        self._board = None
        self._row = None
        self._cell = None
        self._open = []         # [id, tag, depth] of elements whose text is being collected
        self._in = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for entry in self._open:
            if entry[1] == tag:
                entry[2] += 1
        if "id" in a and tag in ("span", "p", "div", "b", "h2"):
            self.text_of[a["id"]] = ""
            self._open.append([a["id"], tag, 1])
        if "id" in a:
            self.ids[a["id"]] = a
        if tag == "section" and a.get("id", "").startswith("board-"):
            self._board = a["id"][6:]
            self.rows[self._board] = []
        if tag == "tr" and self._board and "data-did" in a:
            self._row = {"did": a["data-did"], "cells": []}
            self.rows[self._board].append(self._row)
        if tag == "td" and self._row is not None:
            self._row["cells"].append("")
            self._cell = True
        if tag == "a" and "data-uri" in a:
            self.records.append(a)
        if tag == "text" and "ylabel" in a.get("class", ""):
            self._in = "ylabel"
            self.ylabels.append("")
        if tag == "h1":
            self._in = "h1"
        if tag == "script":
            self.scripts.append(a)

    def handle_endtag(self, tag):
        if tag == "section":
            self._board = None
        if tag == "tr":
            self._row = None
        if tag == "td":
            self._cell = None
        if tag in ("text", "h1"):
            self._in = None
        for entry in self._open:
            if entry[1] == tag:
                entry[2] -= 1
        self._open = [entry for entry in self._open if entry[2] > 0]

    def handle_data(self, data):
        if self._cell and self._row is not None:
            self._row["cells"][-1] += data
        if self._in == "ylabel":
            self.ylabels[-1] += data
        if self._in == "h1":
            self.h1 += data
        for entry in self._open:
            self.text_of[entry[0]] += data


def get(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def dom(chromium, url):
    """The DOM as Chromium has it once the page loaded and its script ran."""
    out = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", url],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    return out


def shoot(chromium, url, path, height=1000):
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={path}", f"--window-size=1280,{height}", url],
                   check=True, capture_output=True, timeout=120)
    return Image.open(path).convert("RGB")


def count_near(image, colour, tolerance=40):
    raw = image.convert("RGB").tobytes()
    pixels = (raw[i:i + 3] for i in range(0, len(raw), 3))
    return sum(1 for pixel in pixels if all(abs(pixel[i] - colour[i]) <= tolerance for i in range(3)))


def grouped(n):
    return f"{n:,}"


def iso_minus(text, seconds):
    """An API 'as_of' (RFC 3339 with µs) minus `seconds`, in unix µs."""
    moment = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    delta = moment - epoch
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds - seconds * 1_000_000


def main():
    binary = os.path.abspath(sys.argv[1])
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("pages: 0 passed, 1 failed (chromium is not installed)")
        sys.exit(1)
    results = []

    def check(ok, what):
        results.append(ok)
        print(f"{'ok  ' if ok else 'FAIL'} {what}")

    with tempfile.TemporaryDirectory() as tmp:
        capture = os.path.join(tmp, "capture.jsonl")
        # 10,000 s of stream: the hour boards have a window before them to move against.
        subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gen_capture.py"), "--events", "5000", "--seed", "3",
                        "--rate", "0.5", "--out", capture], check=True, capture_output=True)
        db = os.path.join(tmp, "pages.sqlite")
        subprocess.run([binary, "replay", capture, "--db", db, "--quiet"], check=True, capture_output=True)

        def top(window, as_of):
            out = subprocess.run([binary, "top", "--db", db, "--window", window, "--as-of", str(as_of), "--limit", "1000",
                                  "--format", "json"], check=True, capture_output=True, text=True).stdout
            return {row["did"]: row["rank"] for row in json.loads(out)}

        alltime = json.loads(subprocess.run([binary, "top", "--db", db, "--limit", "40", "--format", "json"],
                                            check=True, capture_output=True, text=True).stdout)
        big = alltime[-1]["did"]

        server = subprocess.Popen([binary, "serve", "--db", db, "--port", "0", "--log-level", "error", "--client-rate", "0"],
                                  stdout=subprocess.PIPE, text=True)
        try:
            port = int(re.search(r":(\d+)", server.stdout.readline()).group(1))
            base = f"http://127.0.0.1:{port}"

            # The boards against the API and against the window before.
            page = Page(dom(chromium, base + "/"))
            for window, seconds in WINDOWS.items():
                _, _, body = get(f"{base}/v1/leaderboards/{window}?limit=10")
                api = json.loads(body)
                rows = page.rows.get(window, [])
                expected = [(e["did"], grouped(e["score"])) for e in api["entries"]]
                shown = [(r["did"], r["cells"][3].strip()) for r in rows]
                check(shown == expected and len(rows) > 0,
                      f"{window} board: {len(rows)} rows in the API's order with its scores")
                before = top(window, iso_minus(api["as_of"], seconds))
                marks = []
                for rank, row in enumerate(rows, start=1):
                    old = before.get(row["did"])
                    marks.append("new" if old is None else "–" if old == rank else f"▲{old - rank}" if old > rank else f"▼{rank - old}")
                check([r["cells"][1].strip() for r in rows] == marks,
                      f"{window} board: movement since the window before {''.join(m + ' ' for m in marks[:5]).strip()} …")
            check(any(m.startswith(("▲", "▼")) for r in page.rows.get("hour", []) for m in [r["cells"][1]]),
                  "the hour board shows risers or fallers (the capture spans 2.8 hours)")

            # The account page against the API.
            leader = page.rows["hour"][0]["did"]
            _, _, body = get(f"{base}/v1/characters/{leader}")
            character = json.loads(body)
            account = Page(dom(chromium, f"{base}/accounts/{leader}"))
            ranks = {}
            for window in WINDOWS:
                _, _, body = get(f"{base}/v1/leaderboards/{window}?limit=1000")
                ranks[window] = next((str(e["rank"]) for e in json.loads(body)["entries"] if e["did"] == leader), "")
            check({w: account.ids.get(f"rank-{w}", {}).get("data-rank") for w in WINDOWS} == ranks,
                  f"account page: rank in each window {ranks}")
            check(account.text_of.get("level") == str(character["level"]) and account.text_of.get("xp") == grouped(character["xp"]),
                  f"account page: level {character['level']}, {grouped(character['xp'])} XP")
            percent = account.ids.get("progress", {}).get("data-percent")
            check(percent == str(int(character["progress_percent"])) and
                  grouped(character["xp_to_next_level"]) in account.text_of.get("to-next", ""),
                  f"account page: progress {percent}% and {grouped(character['xp_to_next_level'])} XP to the next level")
            uris = [a["data-uri"] for a in account.records]
            links_ok = len(uris) == min(20, len(character.get("recent_ledger", [])) or 20) and all(
                u.startswith(f"at://{leader}/") for u in uris) and all(
                a["href"] == f"https://bsky.app/profile/{leader}/post/{a['data-uri'].rsplit('/', 1)[1]}"
                for a in account.records if "/app.bsky.feed.post/" in a["data-uri"])
            check(links_ok, f"account page: {len(uris)} recent grants, each linked to its record")

            # Search.
            handle = next((r["handle"] for r in alltime if r.get("handle")), None)
            target = next((r["did"] for r in alltime if r.get("handle") == handle), None)
            landed = dom(chromium, f"{base}/search?q=%40{handle}") if handle else ""
            check(handle is not None and f"{target} · status" in landed, f"search: @{handle} opens {target}'s page")
            status, _, _ = get(f"{base}/search?q=nobody.example")
            check(status == 404, f"search: an unknown handle answers {status}")

            # ETag polling.
            status, headers, text = get(base + "/")
            etag = headers.get("ETag")
            again, _, _ = get(base + "/", {"If-None-Match": etag})
            scripts = Page(text).scripts
            check(etag and again == 304 and f'data-etag="{etag.replace(chr(34), "&quot;")}"' in text
                  and len(scripts) == 1 and "src" not in scripts[0],
                  f"polling: ETag {etag} answered 304, one inline script, no external one")

            # Screenshots.
            os.makedirs(SHOTS, exist_ok=True)
            board = shoot(chromium, base + "/", os.path.join(SHOTS, "leaderboards.png"), height=900)
            links = count_near(board, LINK)
            check(links > 300, f"screenshot docs/screenshots/leaderboards.png: {links} pixels of account links")
            shot = shoot(chromium, f"{base}/accounts/{leader}", os.path.join(SHOTS, "account.png"))
            line = count_near(shot, CHART)
            check(line > 300, f"screenshot docs/screenshots/account.png: {line} pixels of the XP chart's line")
            # The chart past 2^31: an account adjusted by 3 × 10^9 (adjust applies at once: no
            # host holds the file; the page reads the ledger, not the cached boards).
            for _ in range(3):
                subprocess.run([binary, "adjust", big, "1000000000", "--reason", "page check: a large value", "--yes", "--db", db],
                               check=True, capture_output=True)
            xp = json.loads(get(f"{base}/v1/characters/{big}")[2])["xp"]
            labels = Page(dom(chromium, f"{base}/accounts/{big}")).ylabels
            units = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
            top_value = float(labels[-1][:-1]) * units[labels[-1][-1]] if labels and labels[-1][-1] in units else 0
            check(xp > 2**31 and len(labels) == 5 and all(len(l) <= 5 for l in labels) and top_value >= xp,
                  f"chart: {grouped(xp)} XP on a y axis labelled {labels}")

        finally:
            server.terminate()
            server.wait(timeout=10)
    passed = sum(results)
    print(f"pages: {passed} passed, {len(results) - passed} failed")
    sys.exit(0 if passed == len(results) else 1)


if __name__ == "__main__":
    main()
