#!/usr/bin/env python3
"""Renders BotHost's web pages in headless Chromium (Debian's package) and checks the
screenshots: the leaderboard page must show its tables (account links in the link
colour), the account page its XP chart (the chart's line colour), and no page may be
blank. Ends with 'pages: N passed, N failed'.

    python3 scripts/page_check.py BOTHOST_BINARY
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINK = (0x2D, 0x5B, 0xD1)   # a { color } in WebPages.swift
CHART = (0xE4, 0x57, 0x2E)  # the polyline's stroke


def count_near(image, colour, tolerance=40):
    return sum(1 for pixel in image.getdata()
               if all(abs(pixel[i] - colour[i]) <= tolerance for i in range(3)))


def shoot(chromium, url, path):
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={path}", "--window-size=1280,1000", url],
                   check=True, capture_output=True, timeout=120)
    return Image.open(path).convert("RGB")


def main():
    binary = os.path.abspath(sys.argv[1])
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("pages: 0 passed, 1 failed (chromium is not installed)")
        sys.exit(1)
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        capture = os.path.join(tmp, "capture.jsonl")
        subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gen_capture.py"), "--events", "5000", "--seed", "3",
                        "--rate", "0.5", "--out", capture], check=True)
        db = os.path.join(tmp, "pages.sqlite")
        subprocess.run([binary, "replay", capture, "--db", db, "--quiet"], check=True, capture_output=True)
        top = subprocess.run([binary, "top", "--db", db, "--limit", "1", "--format", "json"], check=True,
                             capture_output=True, text=True).stdout
        did = re.search(r'"did":"([^"]+)"', top).group(1)
        server = subprocess.Popen([binary, "serve", "--db", db, "--port", "0", "--log-level", "error"],
                                  stdout=subprocess.PIPE, text=True)
        try:
            port = int(re.search(r":(\d+)", server.stdout.readline()).group(1))
            board = shoot(chromium, f"http://127.0.0.1:{port}/", os.path.join(tmp, "board.png"))
            links = count_near(board, LINK)
            ok = links > 300
            print(f"{'ok  ' if ok else 'FAIL'} leaderboards page: {links} pixels of account links in the tables")
            passed, failed = (passed + 1, failed) if ok else (passed, failed + 1)
            page = shoot(chromium, f"http://127.0.0.1:{port}/accounts/{did}", os.path.join(tmp, "account.png"))
            line = count_near(page, CHART)
            ok = line > 300
            print(f"{'ok  ' if ok else 'FAIL'} account page: {line} pixels of the XP chart's line")
            passed, failed = (passed + 1, failed) if ok else (passed, failed + 1)
            if os.environ.get("BOTHOST_KEEP_SCREENSHOTS"):
                for name in ("board.png", "account.png"):
                    shutil.copy(os.path.join(tmp, name), os.path.join(os.environ["BOTHOST_KEEP_SCREENSHOTS"], name))
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"pages: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
