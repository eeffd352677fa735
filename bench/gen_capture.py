#!/usr/bin/env python3
"""Deterministic, realistic Jetstream v1 capture generator.

    python3 bench/gen_capture.py --events N --seed S --out PATH [--accounts A] [--bot-did DID] [--stats]

Writes N compact JSON lines, one Jetstream v1 event each, in the exact wire shape of
/work/shared/data/jetstream-real-samples.jsonl:

* envelope keys in Go struct order (`did`, `time_us`, `kind`, `commit` / `identity` / `account`),
  commit keys `rev, operation, collection, rkey[, record, cid]`;
* records are Go maps, so their keys are sorted, except blob refs, which are a Go struct
  (`$type, ref, mimeType, size`); dicts are therefore built in that order by hand instead of
  using OPT_SORT_KEYS (which would also sort the blobs);
* strings escaped as Go's encoding/json does (`&`, `<`, `>`, U+2028, U+2029 as \\uXXXX), plus a
  few posts where non-ASCII characters are \\u-escaped (surrogate pairs for astral characters) so
  decoders see both raw UTF-8 and escaped forms.

Same arguments -> byte-identical output: every random choice comes from one `random.Random(seed)`
and nothing iterates a set or depends on hash order.

`--stats` prints the produced event mix as JSON on stderr.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import collections
import re
import sys
import time

import orjson

# --------------------------------------------------------------------------------------------
# Identifiers

TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
# Two characters per 10 bits: a TID is 1 char (top 5 bits) + 6 pairs, 7 lookups instead of 13.
_TID_PAIRS = [TID_ALPHABET[i >> 5] + TID_ALPHABET[i & 31] for i in range(1024)]


def tid(v: int) -> str:
    """Encode a 64-bit integer (microseconds << 10 | clock id) as a 13-char TID."""
    p = _TID_PAIRS
    return (TID_ALPHABET[(v >> 60) & 31] + p[(v >> 50) & 1023] + p[(v >> 40) & 1023]
            + p[(v >> 30) & 1023] + p[(v >> 20) & 1023] + p[(v >> 10) & 1023] + p[v & 1023])


def tid_decode(s: str) -> int:
    v = 0
    for c in s:
        v = (v << 5) | TID_ALPHABET.index(c)
    return v


_ISO_CACHE = [None, ""]


def iso_ms(us: int) -> str:
    """RFC 3339 UTC with milliseconds, as atproto clients write `createdAt`."""
    s, rem = divmod(us, 1_000_000)
    if _ISO_CACHE[0] != s:  # consecutive events share seconds: strftime once per second
        _ISO_CACHE[0] = s
        _ISO_CACHE[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s))
    return "%s.%03dZ" % (_ISO_CACHE[1], rem // 1000)


# --------------------------------------------------------------------------------------------
# Text material. Fragments deliberately include the characters decoders get wrong: Go-escaped
# `& < >`, quotes, backslashes, newlines/tabs, emoji (astral, ZWJ sequences, flags, skin
# tones), CJK, Cyrillic, Arabic (RTL), combining marks, and rarely U+2028.

FRAGMENTS = [
    "Good morning everyone ☀️",
    "this is fine 🔥🔥🔥",
    "just posted my first bluesky post!",
    "Anyone else watching the game tonight?",
    "hot take: pineapple belongs on pizza",
    "I can't believe it's already July",
    "Coffee first. Then everything else. ☕",
    "new blog post is up, would love feedback",
    "lol",
    "same",
    "this >>> everything else",
    "Tom & Jerry <3",
    "if (a < b && b > c) { return \"ok\"; }",
    "She said \"hello\" and then left",
    "path C:\\Users\\me\\Desktop and a backslash \\ here",
    "line one\nline two\n\nline four",
    "tab\tseparated\tvalues",
    "café naïve résumé — “smart quotes” and ‘single’ ones…",
    "👨‍👩‍👧‍👦 family day at the park",
    "flags 🇯🇵🇺🇸🇧🇷 and skin tones 👍🏽👋🏿",
    "今日はいい天気ですね。散歩に行きます🌸",
    "乗った！",
    "我今天很高兴，谢谢大家",
    "한국어 텍스트도 있어요 😊",
    "Вечерок с друзьями, дошли до парка 😍🔥",
    "مرحبا بالعالم",
    "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǫ̗ text with combining marks",
    "math: 2 < 3 > 1 & so on",
    "<script>alert('x')</script> (don't worry, it's just text)",
    "Fish & Chips & Mushy Peas",
    "Zürich → München → Wien 🚆",
    "🎉🎉🎉 we did it 🎉🎉🎉",
    "RT if you agree",
    "thread 🧵 1/",
    "rare separator\u2028after a line separator",
    "¯\\_(ツ)_/¯",
    "𝕗𝕒𝕟𝕔𝕪 𝕥𝕖𝕩𝕥 and 𝓼𝓬𝓻𝓲𝓹𝓽",
    "the year is 2026 and we are still posting",
    "Vote! 🗳️ Polls close at 8pm <local time>",
    "can't stop listening to this album 🎧",
]
LANG_CHOICES = [["en"], ["en"], ["en"], ["en"], ["ja"], ["es", "en"], ["ru"], ["pt"], ["de"], ["ko"], ["zh"], ["fr"]]
TAGS = ["art", "photography", "bluesky", "caturday", "gamedev", "swift", "news", "music", "東京", "café"]
LINK_SITES = [
    ("www.example.com/articles/2026/07/a-long-headline-about...",
     "https://www.example.com/articles/2026/07/a-long-headline-about-nothing?utm_source=bsky&utm_medium=social"),
    ("youtu.be/V5lDo-jw8mA", "https://youtu.be/V5lDo-jw8mA?t=42&si=abc"),
    ("github.com/swiftlang/swift", "https://github.com/swiftlang/swift"),
    ("bsky.app/profile/someone...", "https://bsky.app/profile/someone.bsky.social/post/3mptbyplwma2l"),
    ("ja.wikipedia.org/wiki/東京...", "https://ja.wikipedia.org/wiki/%E6%9D%B1%E4%BA%AC"),
]
EXTERNALS = [
    ("YouTube video by Reuters", "What does America's 250th anniversary mean to Native Americans?",
     "https://www.youtube.com/watch?v=V5lDo-jw8mA"),
    ("ALT: Ariana Grande Crying", "Ariana Grande Crying: Acheimagra Stan Twitter",
     "https://static.klipy.com/ii/f87f46a2c5aeaeed/7d/09/g1bpFVOm.gif?hh=498&ww=498&mp4=IrGBygbn"),
    ("Russian and Chinese channels only the 'tip of the iceberg'", "Disinformation by hostile states",
     "https://www.irishexaminer.com/news/arid-41596729.html?utm_source=dlvr.it&utm_medium=bluesky"),
    ("", "Untitled", "https://example.org/"),
    ("Release notes <v6.2> & migration guide", "Swift 6.2 Released", "https://www.swift.org/blog/swift-6.2-released/"),
]
ALT_TEXTS = [
    "A cat sleeping on a keyboard",
    "Screenshot of a post that says \"hello world\"",
    "Graph showing A < B & C > D over time",
    "写真：夕焼けの富士山",
    "Фото заката над морем",
    "Two dogs playing in the snow 🐕🐕",
    "x",
    ".",
    "  leading and trailing spaces  ",
    "Line one of the description\nline two",
    "A hand-drawn map with arrows → and labels",
]
# Whitespace-only alts: all are Unicode White_Space (and Python str.isspace), so every
# implementation of "has a non-whitespace character" must call them undescribed.
BLANK_ALTS = ["  ", "\n\t", "\u3000", " ", "\u00a0", "\r\n", "\u2003\u2002", "\t"]
NAME_WORDS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
              "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter",
              "yuki", "zoe", "kenji", "sasha", "amara", "li", "noor", "pablo", "ines", "tariq", "mei"]
CUSTOM_DOMAINS = ["example.com", "dev.example.net", "news.example.org", "art.example.jp"]
BOT_HANDLE = "bothost.bsky.social"
# (text after the @mention, whether the bot mention facet is present)
BOT_TEXTS = [
    (" opt in", True),
    (" Opt In please!", True),
    (" OPT IN and no ping 🙏", True),
    (" I'd like to opt in, no ping please", True),
    (" opt out", True),
    (" Opt Out. thanks & bye", True),
    (" no ping", True),
    (" hello! what are you?", True),
    (" opt-in", True),           # hyphen: does not contain "opt in"
    (" optin", True),            # no space: does not contain "opt in"
    (" opt in", False),          # text mentions the bot but there is no facet
]
INACTIVE_STATUSES = [("deactivated", 0.45), ("takendown", 0.20), ("suspended", 0.15), ("deleted", 0.20)]
RESTORE_PROB = {"deactivated": 0.7, "suspended": 0.6, "takendown": 0.25, "deleted": 0.0}

# Event mix (fractions of newly generated events; replays/duplicates come on top of these).
MIX = [
    ("like", 0.658),
    ("post", 0.15),
    ("repost", 0.08),
    ("follow", 0.05),
    ("delete", 0.03),
    ("update", 0.005),
    ("block", 0.01),
    ("other", 0.01),
    ("identity", 0.005),
    ("account", 0.002),  # + the account events paired with identity events: ~0.3 % in all
]

_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def go_escape(b: bytes) -> bytes:
    """orjson writes `& < >` and U+2028/9 raw; Go's encoding/json escapes them."""
    if b"&" in b:
        b = b.replace(b"&", b"\\u0026")
    if b"<" in b:
        b = b.replace(b"<", b"\\u003c")
    if b">" in b:
        b = b.replace(b">", b"\\u003e")
    if b"\xe2\x80\xa8" in b:
        b = b.replace(b"\xe2\x80\xa8", b"\\u2028")
    if b"\xe2\x80\xa9" in b:
        b = b.replace(b"\xe2\x80\xa9", b"\\u2029")
    return b


class Account:
    __slots__ = ("did", "clk", "last_rev", "last_rkey", "last_t", "handle", "live_posts",
                 "post_rkeys", "deletables", "deleted", "active", "status", "account_bodies")

    def __init__(self, did: str, clk: int):
        self.did = did
        self.clk = clk          # TID clock id of this account's PDS
        self.last_rev = 0       # revs strictly increase per repository
        self.last_rkey = {}     # collection -> last minted TID rkey value (keeps rkeys unique)
        self.last_t = 0         # time_us is ascending per account (jitter is cross-account only)
        self.handle = None
        self.live_posts = {}    # rkey -> [uri, cid, record]
        self.post_rkeys = []    # every post rkey ever created (updates pick from here)
        self.deletables = []    # [(collection, rkey)] of live records that may be deleted
        self.deleted = []       # recently deleted keys, for the rare repeated delete
        self.active = True
        self.status = None
        self.account_bodies = []  # recent account event bodies, for a failover's re-send


class Generator:
    def __init__(self, n: int, seed: int, n_accounts: int, bot_did: str | None):
        import random

        self.n = n
        self.rng = rng = random.Random(seed)
        self.bot_did = bot_did or None
        self.now = 1_783_175_000_000_000 + rng.randrange(3_600_000_000)  # 2026-07-04, like the samples
        self.mean_gap_us = 1500.0  # ~670 events/s; main() sets it from --rate
        self.consent_rate = 0.004  # share of posts that mention the bot; main() sets it
        self.seq = 31_527_015_000 + rng.randrange(1_000_000)
        self.out: list[bytes] = []
        self.count = 0
        self.stats = collections.Counter()
        self.ring = collections.deque(maxlen=1000)  # recent wire lines, for rewound-cursor replays

        self.accounts = [Account(self.random_did(), rng.randrange(32)) for _ in range(n_accounts)]
        # Zipf-Mandelbrot activity: a few very busy accounts (they reach high levels), a long tail.
        cum, total = [], 0.0
        for i in range(n_accounts):
            total += 1.0 / (i + 2.7) ** 1.1
            cum.append(total)
        self.cum, self.cum_total = cum, total
        self.posts: list[tuple] = []  # every post created in the capture: (uri, cid, did, root_uri, root_cid)

        acc = 0.0
        self.mix_cum, self.mix_names = [], []
        for name, p in MIX:
            acc += p
            self.mix_cum.append(acc)
            self.mix_names.append(name)
        self.mix_cum[-1] = 1.0

    # ---------------------------------------------------------------- random primitives
    def random_did(self) -> str:
        return "did:plc:" + base64.b32encode(self.rng.randbytes(15)).decode().lower()[:24]

    def random_cid(self, prefix: str = "bafyrei") -> str:
        return prefix + base64.b32encode(self.rng.randbytes(33)).decode().lower()[:52]

    def old_tid(self) -> str:
        """A record key from days to months ago (records that predate the capture)."""
        us = self.now - self.rng.randrange(3_600_000_000, 200 * 86_400_000_000)
        return tid((us << 10) | self.rng.randrange(32))

    def blob(self, mime: str, size_max: int) -> dict:
        # Go struct field order, not sorted.
        return {"$type": "blob", "ref": {"$link": self.random_cid("bafkrei")}, "mimeType": mime,
                "size": self.rng.randrange(2_000, size_max)}

    def aspect(self) -> dict:
        r = self.rng
        return {"height": r.randrange(200, 4000), "width": r.randrange(200, 4000)}

    def pick_zipf(self) -> Account:
        return self.accounts[bisect.bisect_left(self.cum, self.rng.random() * self.cum_total)]

    def pick_active(self) -> Account:
        for _ in range(8):
            a = self.pick_zipf()
            if a.active:
                return a
        for _ in range(64):
            a = self.rng.choice(self.accounts)
            if a.active:
                return a
        return a  # the whole population is inactive: tolerate a commit from an inactive account

    def handle_of(self, a: Account) -> str:
        if a.handle is None:
            r = self.rng
            name = r.choice(NAME_WORDS) + (str(r.randrange(1000)) if r.random() < 0.6 else "")
            a.handle = name + "." + (r.choice(CUSTOM_DOMAINS) if r.random() < 0.1 else "bsky.social")
        return a.handle

    # ---------------------------------------------------------------- emission
    def emit(self, line: bytes, stat) -> None:
        if self.count >= self.n:
            return
        self.out.append(line)
        self.ring.append(line)
        self.count += 1
        self.stats[stat] += 1

    def event_time(self, a: Account) -> int:
        r = self.rng
        # ~670 events/s; per-event delivery jitter of ~1.5 ms, sometimes up to 30 ms. Tuned to the
        # contiguous real window (samples 11-162): ~25-30 % of lines older than their predecessor,
        # at most ~33 ms behind the newest line so far.
        self.now += int(r.expovariate(1 / self.mean_gap_us)) + 1
        j = r.expovariate(1 / 1500.0)
        if r.random() < 0.07:
            j += r.random() * 30_000
        t = self.now + int(j)
        if t <= a.last_t:
            t = a.last_t + 1
        a.last_t = t
        return t

    def next_rev(self, a: Account, t: int):
        """(rev, its microseconds). The PDS commits ~40 ms .. 1.3 s before Jetstream stamps time_us."""
        lag = 40_000 + int(self.rng.random() ** 2 * 1_260_000)
        v = ((t - lag) << 10) | a.clk
        if v <= a.last_rev:
            v = a.last_rev + 1024  # same clock id, strictly greater
        a.last_rev = v
        return tid(v), v >> 10

    def next_rkey(self, a: Account, coll: str, us: int, clk: int) -> str:
        v = (us << 10) | clk
        last = a.last_rkey.get(coll, 0)
        if v <= last:
            v = last + 1
        a.last_rkey[coll] = v
        return tid(v)

    def stamp(self, a: Account):
        """(time_us, rev, rev microseconds) of the next commit of `a`."""
        t = self.event_time(a)
        rev, rev_us = self.next_rev(a, t)
        return t, rev, rev_us

    def emit_commit(self, a: Account, op: str, coll: str, rkey: str, record: dict | None,
                    stamp=None, escape_unicode: bool = False) -> str | None:
        """Emit one commit; returns the record cid (None for deletes)."""
        t, rev, _ = stamp or self.stamp(a)
        head = ('{"did":"%s","time_us":%d,"kind":"commit","commit":{"rev":"%s","operation":"%s",'
                '"collection":"%s","rkey":"%s"' % (a.did, t, rev, op, coll, rkey)).encode()
        if record is None:
            self.emit(head + b"}}", ("commit", coll, op))
            return None
        rec = orjson.dumps(record)
        if escape_unicode:
            rec = self.escape_some_unicode(rec)
        cid = self.random_cid()
        self.emit(b"".join((head, b',"record":', go_escape(rec), b',"cid":"', cid.encode(), b'"}}')),
                  ("commit", coll, op))
        return cid

    def escape_some_unicode(self, rec: bytes) -> bytes:
        """\\u-escape about half of the non-ASCII characters (surrogate pairs above U+FFFF)."""
        rnd = self.rng.random

        def esc(m):
            c = m.group()
            if rnd() < 0.5:
                return c
            o = ord(c)
            if o > 0xFFFF:
                o -= 0x10000
                return "\\u%04x\\u%04x" % (0xD800 + (o >> 10), 0xDC00 + (o & 0x3FF))
            return "\\u%04x" % o

        s = rec.decode()
        s2 = _NON_ASCII.sub(esc, s)
        if s2 != s:
            self.stats["posts_with_u_escapes"] += 1
        return s2.encode()

    # ---------------------------------------------------------------- post content
    def make_text(self, a: Account):
        """Returns (text, facets or None). Facet offsets are UTF-8 byte offsets, end exclusive."""
        r = self.rng
        pieces = []  # (segment, feature or None)
        if self.bot_did and r.random() < self.consent_rate:
            tail, with_facet = r.choice(BOT_TEXTS)
            feat = {"$type": "app.bsky.richtext.facet#mention", "did": self.bot_did} if with_facet else None
            if r.random() < 0.5:
                pieces.append(("@" + BOT_HANDLE, feat))
                pieces.append((tail, None))
            else:  # mention at the end, keyword first
                pieces.append((tail.strip() + " ", None))
                pieces.append(("@" + BOT_HANDLE, feat))
            self.stats["bot_mention_posts"] += 1
        else:
            x = r.random()
            if x < 0.06:
                return "", None  # media-only or quote-only posts have empty text
            pieces.append((r.choice(FRAGMENTS), None))
            if r.random() < 0.3:
                pieces.append(("\n\n" if r.random() < 0.4 else " ", None))
                pieces.append((r.choice(FRAGMENTS), None))
            if r.random() < 0.08:
                other = self.pick_zipf()
                pieces.append((" cc ", None))
                pieces.append(("@" + self.handle_of(other),
                               {"$type": "app.bsky.richtext.facet#mention", "did": other.did}))
            if r.random() < 0.06:
                shown, uri = r.choice(LINK_SITES)
                pieces.append(("\n", None))
                pieces.append((shown, {"$type": "app.bsky.richtext.facet#link", "uri": uri}))
            if r.random() < 0.07:
                for tag in r.sample(TAGS, 1 + (r.random() < 0.3)):
                    pieces.append((" ", None))
                    pieces.append(("#" + tag, {"$type": "app.bsky.richtext.facet#tag", "tag": tag}))
        facets = []
        pos = 0
        for seg, feat in pieces:
            n = len(seg.encode())
            if feat is not None:
                facets.append({"features": [feat], "index": {"byteEnd": pos + n, "byteStart": pos}})
            pos += n
        return "".join(seg for seg, _ in pieces), (facets or None)

    def alts(self, n: int) -> list:
        r = self.rng
        x = r.random()
        if x < 0.30:
            kinds = "d" * n          # all described
        elif x < 0.68:
            kinds = "e" * n          # all "" (the common case on the real network)
        elif x < 0.80:
            kinds = "w" * n          # all whitespace-only
        else:
            kinds = "".join(r.choice("dew") for _ in range(n))  # mixed
        return [r.choice(ALT_TEXTS) if k == "d" else "" if k == "e" else r.choice(BLANK_ALTS) for k in kinds]

    def images_embed(self, alts=None) -> dict:
        r = self.rng
        n = 1 + int(r.random() ** 2 * 4)
        alts = alts or self.alts(n)
        imgs = []
        for alt in alts:
            mime = "image/jpeg" if r.random() < 0.85 else r.choice(("image/png", "image/webp"))
            if r.random() < 0.9:
                imgs.append({"alt": alt, "aspectRatio": self.aspect(), "image": self.blob(mime, 2_000_000)})
            else:
                imgs.append({"alt": alt, "image": self.blob(mime, 2_000_000)})
        return {"$type": "app.bsky.embed.images", "images": imgs}

    def video_embed(self, alt_mode: str | None = None) -> dict:
        r = self.rng
        if alt_mode is None:
            x = r.random()
            alt_mode = "none" if x < 0.45 else "d" if x < 0.80 else "e" if x < 0.90 else "w"
        e = {"$type": "app.bsky.embed.video"}
        if alt_mode != "none":
            e["alt"] = r.choice(ALT_TEXTS) if alt_mode == "d" else "" if alt_mode == "e" else r.choice(BLANK_ALTS)
        e["aspectRatio"] = self.aspect()
        if r.random() < 0.05:
            e["captions"] = [{"file": self.blob("text/vtt", 20_000), "lang": "en"}]
        e["video"] = self.blob("video/mp4", 50_000_000)
        return e

    def gallery_embed(self, alts=None) -> dict:
        r = self.rng
        n = 1 + min(19, int(r.expovariate(1 / 3.0)))
        alts = alts or self.alts(n)
        items = [{"alt": alt, "aspectRatio": self.aspect(), "image": self.blob("image/jpeg", 2_000_000)}
                 for alt in alts]
        return {"$type": "app.bsky.embed.gallery", "items": items}

    def external_embed(self) -> dict:
        r = self.rng
        desc, title, uri = r.choice(EXTERNALS)
        ext = {"description": desc}
        if r.random() < 0.7:
            ext["thumb"] = self.blob("image/jpeg", 600_000)
        ext["title"] = title
        ext["uri"] = uri
        return {"$type": "app.bsky.embed.external", "external": ext}

    def post_ref(self, author: Account | None):
        """A (uri, cid, root_uri, root_cid) of some post, mostly one seen in the capture."""
        r = self.rng
        # Never the newest 40 posts (~0.4 s of stream): delivery jitter (up to ~33 ms) could
        # otherwise stamp a reply, like or repost earlier than its subject, an order no real
        # stream produces and one that a time-ordered server would serve differently.
        posts = self.posts
        usable = len(posts) - 40
        if usable > 0 and r.random() < 0.8:
            if r.random() < 0.6:  # recent posts get most of the engagement
                i = usable - 1 - min(usable - 1, int(r.expovariate(1 / 300.0)))
            else:
                i = r.randrange(usable)
            p = posts[i]
            return p[0], p[1], p[3], p[4]
        uri = "at://%s/app.bsky.feed.post/%s" % (self.random_did(), self.old_tid())
        cid = self.random_cid()
        return uri, cid, uri, cid

    def strong_ref(self, uri: str, cid: str) -> dict:
        return {"cid": cid, "uri": uri}

    def make_post_record(self, a: Account, created_us: int) -> dict:
        r = self.rng
        text, facets = self.make_text(a)
        x = r.random()
        embed = None
        if x < 0.50:
            pass
        elif x < 0.68:
            embed = self.images_embed()
        elif x < 0.73:
            embed = self.video_embed()
        elif x < 0.755:
            embed = self.gallery_embed()
        elif x < 0.845:
            embed = self.external_embed()
        elif x < 0.915:
            uri, cid, _, _ = self.post_ref(a)
            embed = {"$type": "app.bsky.embed.record", "record": self.strong_ref(uri, cid)}
        else:
            uri, cid, _, _ = self.post_ref(a)
            y = r.random()
            media = (self.images_embed() if y < 0.55 else self.video_embed() if y < 0.75
                     else self.gallery_embed() if y < 0.85 else self.external_embed())
            embed = {"$type": "app.bsky.embed.recordWithMedia", "media": media,
                     "record": {"$type": "app.bsky.embed.record", "record": self.strong_ref(uri, cid)}}
        rec = {"$type": "app.bsky.feed.post", "createdAt": iso_ms(created_us)}
        if embed is not None:
            rec["embed"] = embed
        if facets:
            rec["facets"] = facets
        if r.random() < 0.93:
            rec["langs"] = r.choice(LANG_CHOICES)
        if r.random() < 0.33:
            puri, pcid, ruri, rcid = self.post_ref(a)
            rec["reply"] = {"parent": self.strong_ref(puri, pcid), "root": self.strong_ref(ruri, rcid)}
        rec["text"] = text
        return rec

    # ---------------------------------------------------------------- event kinds
    def gen_post(self) -> None:
        r = self.rng
        a = self.pick_active()
        st = self.stamp(a)
        if r.random() < 0.03:
            # A thread posted at once: one repository commit, one event per post, every one
            # with the commit's rev (Jetstream stamps each event's time_us on its own).
            for i in range(2 + int(r.random() * 3)):
                self.post_with(a, st if i == 0 else (self.event_time(a), st[1], st[2]))
            self.stats["threads (multi-op commits)"] += 1
            return
        self.post_with(a, st)

    def post_with(self, a: Account, st) -> None:
        r = self.rng
        # Clients mint post rkeys at compose time with their own clock id: usually before the
        # commit, sometimes after it (client clock skew), as in the real samples.
        rkey = self.next_rkey(a, "app.bsky.feed.post", st[2] - 1_900_000 + int(r.random() * 2_700_000),
                              r.randrange(32))
        rec = self.make_post_record(a, tid_decode(rkey) >> 10)
        # A few posts carry \u-escaped non-ASCII characters (not Go-like, but valid JSON).
        esc = r.random() < 0.02
        cid = self.emit_commit(a, "create", "app.bsky.feed.post", rkey, rec, stamp=st, escape_unicode=esc)
        uri = "at://%s/app.bsky.feed.post/%s" % (a.did, rkey)
        root = rec.get("reply", {}).get("root")
        self.posts.append((uri, cid, a.did, root["uri"] if root else uri, root["cid"] if root else cid))
        a.live_posts[rkey] = [uri, cid, rec]
        a.post_rkeys.append(rkey)
        a.deletables.append(("app.bsky.feed.post", rkey))

    def subject_for(self, a: Account, self_p: float):
        """(uri, cid) of a like/repost subject: mostly capture posts, some unseen, some self."""
        r = self.rng
        x = r.random()
        if x < self_p:
            self.stats["self_subjects"] += 1
            if a.live_posts and r.random() < 0.8:
                rkey = r.choice(a.post_rkeys[-50:])
                if rkey not in a.live_posts:  # deleted since: like the newest live one instead
                    rkey = next(reversed(a.live_posts))
                uri, cid, _ = a.live_posts[rkey]
                return uri, cid
            return "at://%s/app.bsky.feed.post/%s" % (a.did, self.old_tid()), self.random_cid()
        if x < self_p + 0.004:  # likes of feed generators / lists exist too
            return "at://%s/app.bsky.feed.generator/%s" % (self.random_did(), r.choice(("whats-hot", "art", "cats"))), \
                self.random_cid()
        uri, cid, _, _ = self.post_ref(a)
        return uri, cid

    def gen_like_or_repost(self, coll: str, self_p: float, via_p: float) -> None:
        r = self.rng
        a = self.pick_active()
        st = self.stamp(a)
        # The PDS mints the rkey from createdAt (ms precision) a few ms before the commit.
        created = (st[2] - 3_000 - int(r.random() * 30_000)) // 1000 * 1000
        rkey = self.next_rkey(a, coll, created, a.clk)
        uri, cid = self.subject_for(a, self_p)
        rec = {"$type": coll, "createdAt": iso_ms(created), "subject": {"cid": cid, "uri": uri}}
        if r.random() < via_p:
            rec["via"] = {"cid": self.random_cid(),
                          "uri": "at://%s/app.bsky.feed.repost/%s" % (self.random_did(), self.old_tid())}
        self.emit_commit(a, "create", coll, rkey, rec, stamp=st)
        a.deletables.append((coll, rkey))

    def gen_graph(self, coll: str, bot_p: float) -> None:
        r = self.rng
        a = self.pick_active()
        st = self.stamp(a)
        created = (st[2] - 3_000 - int(r.random() * 30_000)) // 1000 * 1000
        rkey = self.next_rkey(a, coll, created, a.clk)
        x = r.random()
        if self.bot_did and x < bot_p:
            subject = self.bot_did
            self.stats[coll + " of bot"] += 1
        elif x < 0.6:
            subject = self.pick_zipf().did  # popular accounts get followed more
        else:
            subject = self.random_did()
        rec = {"$type": coll, "createdAt": iso_ms(created), "subject": subject}
        self.emit_commit(a, "create", coll, rkey, rec, stamp=st)
        a.deletables.append((coll, rkey))

    def gen_delete(self) -> None:
        r = self.rng
        a = None
        for _ in range(8):
            c = self.pick_active()
            if c.deletables:
                a = c
                break
        x = r.random()
        if a is None or x < 0.08:
            # Records created before the capture started: deleting them must grant/revoke nothing.
            a = a or self.pick_active()
            coll = r.choice(("app.bsky.feed.like", "app.bsky.graph.follow", "app.bsky.feed.post",
                             "app.bsky.feed.repost"))
            self.emit_commit(a, "delete", coll, self.old_tid(), None)
            self.stats["deletes_of_unseen"] += 1
            return
        if x < 0.12 and len(a.deletables) >= 2:
            # A bulk delete through applyWrites: one commit, one rev, several deletes (now and
            # then one of a key the capture never created).
            t, rev, rev_us = self.stamp(a)
            for i in range(min(len(a.deletables), 2 + int(r.random() * 4))):
                coll, rkey = a.deletables.pop(r.randrange(len(a.deletables)))
                if coll == "app.bsky.feed.post":
                    a.live_posts.pop(rkey, None)
                a.deleted.append((coll, rkey))
                self.emit_commit(a, "delete", coll, rkey, None, stamp=(t if i == 0 else self.event_time(a), rev, rev_us))
            if r.random() < 0.3:
                self.emit_commit(a, "delete", "app.bsky.feed.like", self.old_tid(), None, stamp=(self.event_time(a), rev, rev_us))
            del a.deleted[:-20]
            self.stats["bulk deletes (multi-op commits)"] += 1
            return
        if x < 0.125 and a.deleted:
            # The same key deleted again under a new rev: must change nothing.
            coll, rkey = r.choice(a.deleted)
            self.emit_commit(a, "delete", coll, rkey, None)
            self.stats["repeated_deletes"] += 1
            return
        d = a.deletables
        if r.random() < 0.6:  # unlike/undo soon after is the common case
            i = len(d) - 1 - min(len(d) - 1, int(r.expovariate(1 / 5.0)))
        else:
            i = r.randrange(len(d))
        coll, rkey = d.pop(i)
        if coll == "app.bsky.feed.post":
            a.live_posts.pop(rkey, None)
        a.deleted.append((coll, rkey))
        if len(a.deleted) > 20:
            del a.deleted[0]
        self.emit_commit(a, "delete", coll, rkey, None)

    def gen_update(self) -> None:
        r = self.rng
        x = r.random()
        if x < 0.22:
            self.gen_profile("update")
            return
        a = None
        for _ in range(8):
            c = self.pick_active()
            if c.live_posts:
                a = c
                break
        if a is None or x < 0.30:
            a = a or self.pick_active()
            # Update of a post the capture never saw created: must change nothing.
            rec = self.make_post_record(a, self.now - 86_400_000_000)
            self.emit_commit(a, "update", "app.bsky.feed.post", self.old_tid(), rec)
            self.stats["updates_of_unseen"] += 1
            return
        rkey = r.choice(list(a.live_posts)[-20:])
        entry = a.live_posts[rkey]
        rec = dict(entry[2])
        embed = rec.get("embed")
        # Re-grade: flip the description state of the media, or add/remove media.
        et = embed["$type"] if embed else None
        target = embed["media"] if et == "app.bsky.embed.recordWithMedia" else embed
        tt = target["$type"] if target else None
        new = None
        if tt == "app.bsky.embed.images":
            n = len(target["images"])
            described = all(i["alt"].strip() for i in target["images"])
            alts = [""] * n if described else [r.choice(ALT_TEXTS) for _ in range(n)]
            new = self.images_embed(alts)
        elif tt == "app.bsky.embed.gallery":
            n = len(target["items"])
            described = all(i["alt"].strip() for i in target["items"])
            alts = [r.choice(BLANK_ALTS) for _ in range(n)] if described else [r.choice(ALT_TEXTS) for _ in range(n)]
            new = self.gallery_embed(alts)
        elif tt == "app.bsky.embed.video":
            described = bool(target.get("alt", "").strip())
            new = self.video_embed("none" if described else "d")
        if new is not None and et == "app.bsky.embed.recordWithMedia":
            new = {"$type": et, "media": new, "record": embed["record"]}
        elif new is None:
            # No media (or external/quote): attach images; the record keeps its other fields.
            new = self.images_embed()
        # Keep sorted key order: rebuild with embed at its sorted position.
        rec["embed"] = new
        rec = {k: rec[k] for k in sorted(rec)}
        cid = self.emit_commit(a, "update", "app.bsky.feed.post", rkey, rec)
        entry[1], entry[2] = cid, rec

    def gen_profile(self, op: str) -> None:
        r = self.rng
        a = self.pick_active()
        rec = {"$type": "app.bsky.actor.profile"}
        if r.random() < 0.8:
            rec["avatar"] = self.blob("image/jpeg", 1_000_000)
        if r.random() < 0.5:
            rec["banner"] = self.blob("image/jpeg", 1_000_000)
        rec["createdAt"] = iso_ms(self.now - r.randrange(1, 400) * 86_400_000_000)
        rec["description"] = r.choice(FRAGMENTS)
        rec["displayName"] = r.choice(NAME_WORDS).title() + (" 🌸" if r.random() < 0.2 else "")
        if a.live_posts and r.random() < 0.3:
            uri, cid, _ = next(iter(a.live_posts.values()))
            rec["pinnedPost"] = {"cid": cid, "uri": uri}
        self.emit_commit(a, op, "app.bsky.actor.profile", "self", rec)

    def gen_other(self) -> None:
        r = self.rng
        x = r.random()
        if x < 0.25:
            self.gen_profile("create" if r.random() < 0.2 else "update")
            return
        a = self.pick_active()
        st = self.stamp(a)
        t = st[2]  # record timestamps come from the client, just before the commit
        if x < 0.45:
            rec = {"$type": "fm.teal.alpha.actor.status", "expiry": iso_ms(t + 600_000_000),
                   "item": {"artists": [{"artistName": r.choice(("Dianna Lopez", "Sigur Rós", "宇多田ヒカル"))}],
                            "duration": None, "playedTime": iso_ms(t - 3_600_000_000),
                            "releaseName": "Sacred Sands", "submissionClientAgent": "multi-scrobbler/0.14.1",
                            "trackName": "Sacred Sands"},
                   "time": iso_ms(t)}
            self.emit_commit(a, "update", "fm.teal.alpha.actor.status", "self", rec, stamp=st)
        elif x < 0.60:
            rkey = self.next_rkey(a, "app.bsky.graph.listitem", t - 20_000, a.clk)
            rec = {"$type": "app.bsky.graph.listitem", "createdAt": iso_ms(t - 20_000),
                   "list": "at://%s/app.bsky.graph.list/%s" % (a.did, self.old_tid()),
                   "subject": self.pick_zipf().did}
            self.emit_commit(a, "create", "app.bsky.graph.listitem", rkey, rec, stamp=st)
        elif x < 0.72 and a.live_posts:
            # Threadgates share the rkey of their post: a different collection, so no grant key clash.
            rkey = next(reversed(a.live_posts))
            rec = {"$type": "app.bsky.feed.threadgate", "allow": [{"$type": "app.bsky.feed.threadgate#mentionRule"}],
                   "createdAt": iso_ms(t - 30_000), "post": a.live_posts[rkey][0]}
            self.emit_commit(a, "create", "app.bsky.feed.threadgate", rkey, rec, stamp=st)
        elif x < 0.82:
            rec = {"$type": "app.bsky.actor.status", "createdAt": iso_ms(t - 50_000), "durationMinutes": 240,
                   "embed": self.external_embed(), "status": "app.bsky.actor.status#live"}
            self.emit_commit(a, "update", "app.bsky.actor.status", "self", rec, stamp=st)
        elif x < 0.90:
            rkey = "%s::did:web:prod-sea0.stream.place" % a.did  # non-TID rkeys exist
            rec = {"$type": "place.stream.broadcast.origin", "broadcaster": "did:web:stream.place",
                   "server": "did:web:prod-sea0.stream.place", "streamer": a.did, "updatedAt": iso_ms(t),
                   "websocketURL": "wss://prod-sea0.stream.place/xrpc/place.stream.live.subscribeSegments?streamer="
                   + a.did.replace(":", "%3A")}
            self.emit_commit(a, "update", "place.stream.broadcast.origin", rkey, rec, stamp=st)
        elif x < 0.95:
            self.emit_commit(a, "delete", "org.hypercerts.claim.activity", self.old_tid(), None, stamp=st)
        else:
            rec = {"$type": "chat.bsky.actor.declaration", "allowIncoming": r.choice(("all", "following", "none"))}
            self.emit_commit(a, "create", "chat.bsky.actor.declaration", "self", rec, stamp=st)

    def pick_for_lifecycle(self) -> Account:
        # Mostly arbitrary accounts, some busy ones; never the 50 busiest, so that the accounts
        # that reach high levels are not taken down or deleted.
        r = self.rng
        accounts = self.accounts
        if r.random() < 0.7 or len(accounts) <= 100:
            return r.choice(accounts)
        i = bisect.bisect_left(self.cum, r.random() * self.cum_total)
        return accounts[max(i, 50)]

    def lifecycle_time(self, a: Account):
        t = self.event_time(a)
        self.seq += 1 + int(self.rng.random() * 400)
        return t, self.seq, iso_ms(t - 100_000 - int(self.rng.random() * 400_000))

    def emit_account(self, a: Account, active: bool, status: str | None) -> None:
        t, seq, when = self.lifecycle_time(a)
        if active:
            body = '{"active":true,"did":"%s","seq":%d,"time":"%s"}' % (a.did, seq, when)
        else:
            body = '{"active":false,"did":"%s","seq":%d,"status":"%s","time":"%s"}' % (a.did, seq, status, when)
        self.emit(('{"did":"%s","time_us":%d,"kind":"account","account":%s}' % (a.did, t, body)).encode(),
                  ("account", "active" if active else status))
        a.account_bodies.append(body)
        del a.account_bodies[:-4]

    def gen_identity(self) -> None:
        r = self.rng
        a = self.pick_for_lifecycle()
        t, seq, when = self.lifecycle_time(a)
        if r.random() < 0.55:
            a.handle = None
            h = self.handle_of(a)
            body = '{"did":"%s","handle":"%s","seq":%d,"time":"%s"}' % (a.did, h, seq, when)
            stat = ("identity", "handle")
        else:
            body = '{"did":"%s","seq":%d,"time":"%s"}' % (a.did, seq, when)
            stat = ("identity", "no handle")
        self.emit(('{"did":"%s","time_us":%d,"kind":"identity","identity":%s}' % (a.did, t, body)).encode(), stat)
        if a.active and r.random() < 0.2:  # the relay often pairs identity with account active:true
            self.emit_account(a, True, None)

    def gen_account(self) -> None:
        r = self.rng
        a = self.pick_for_lifecycle()
        if len(a.account_bodies) >= 2 and r.random() < 0.15:
            # An older account event sent again by another Jetstream instance after a failover:
            # its own (later) time_us, the relay's original seq and body. It must change nothing.
            body = r.choice(a.account_bodies[:-1])
            self.emit(('{"did":"%s","time_us":%d,"kind":"account","account":%s}' % (a.did, self.event_time(a), body)).encode(),
                      ("account", "re-sent after failover"))
            return
        if not a.active:
            if r.random() < RESTORE_PROB[a.status]:
                a.active, a.status = True, None
                self.emit_account(a, True, None)
                return
            for _ in range(16):  # not restored: take another (active) account down instead
                a = self.pick_for_lifecycle()
                if a.active:
                    break
            else:
                return
        if r.random() < 0.2:  # status re-announcements of healthy accounts
            self.emit_account(a, True, None)
            return
        x, acc = r.random(), 0.0
        for status, p in INACTIVE_STATUSES:
            acc += p
            if x < acc:
                break
        a.active, a.status = False, status
        self.emit_account(a, False, status)

    # ---------------------------------------------------------------- main loop
    def plan_overlaps(self):
        """Positions of rewound-cursor replays (every ~50k events, >= 2 when N >= 5000)."""
        n, r = self.n, self.rng
        if n < 1000:
            return []
        k = max(2, round(n / 50_000)) if n >= 5000 else 1
        return [int(n * (i + 0.5) / k + (r.random() - 0.5) * n / k * 0.2) for i in range(k)]

    def run(self, write) -> None:
        r = self.rng
        overlaps = collections.deque(sorted(self.plan_overlaps()))
        n_dups = max(3, self.n // 50_000) if self.n >= 200 else 0
        dups = collections.deque(sorted(r.sample(range(100, self.n), n_dups))) if n_dups else collections.deque()
        handlers = {
            "like": lambda: self.gen_like_or_repost("app.bsky.feed.like", 0.02, 0.20),
            "post": self.gen_post,
            "repost": lambda: self.gen_like_or_repost("app.bsky.feed.repost", 0.03, 0.10),
            "follow": lambda: self.gen_graph("app.bsky.graph.follow", 0.01),
            "delete": self.gen_delete,
            "update": self.gen_update,
            "block": lambda: self.gen_graph("app.bsky.graph.block", 0.03),
            "other": self.gen_other,
            "identity": self.gen_identity,
            "account": self.gen_account,
        }
        table = [handlers[name] for name in self.mix_names]
        mix_cum = self.mix_cum
        rnd = r.random
        bis = bisect.bisect_left
        while self.count < self.n:
            if overlaps and self.count >= overlaps[0]:
                overlaps.popleft()
                w = min(len(self.ring), 200 + r.randrange(500))
                for line in list(self.ring)[-w:]:
                    if self.count >= self.n:
                        break
                    self.out.append(line)
                    self.count += 1
                    self.stats["replayed (overlap)"] += 1
                self.stats["overlap windows"] += 1
            elif dups and self.count >= dups[0]:
                dups.popleft()
                self.out.append(self.ring[-1 - r.randrange(min(4, len(self.ring)))])
                self.count += 1
                self.stats["duplicate lines"] += 1
            else:
                table[bis(mix_cum, rnd())]()
            if len(self.out) >= 20_000:
                write(self.out)
                self.out = []
        write(self.out)
        self.out = []


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, required=True, help="number of lines to write")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", required=True, help="output path, or - for stdout")
    ap.add_argument("--accounts", type=int, default=None, help="population size (default max(50, N/10))")
    ap.add_argument("--bot-did", default="did:plc:bothostbot0000000000000000",
                    help="DID mentioned by consent posts ('' to disable)")
    ap.add_argument("--stats", action="store_true", help="print the event mix as JSON on stderr")
    ap.add_argument("--rate", type=float, default=670.0,
                    help="mean events per second of the stream (default ~670, the real window's pace); "
                         "a low rate spreads a capture over hours or days, for the ranking windows")
    ap.add_argument("--consent-rate", type=float, default=0.004,
                    help="share of posts that mention the bot with a (possible) consent command")
    ap.add_argument("--start-us", type=int, default=None,
                    help="time_us of the first event (default 2026-07-04, like the samples); "
                         "'now' captures let outbox tests pass the 24 h announcement age limit")
    args = ap.parse_args(argv)
    if args.events < 0:
        ap.error("--events must be >= 0")
    n_accounts = args.accounts if args.accounts else max(50, args.events // 10)

    t0 = time.perf_counter()
    gen = Generator(args.events, args.seed, n_accounts, args.bot_did)
    gen.mean_gap_us = 1_000_000.0 / args.rate
    gen.consent_rate = args.consent_rate
    if args.start_us is not None:
        gen.now = args.start_us
    out = sys.stdout.buffer if args.out == "-" else open(args.out, "wb")
    try:
        def write(lines):
            if lines:
                out.write(b"\n".join(lines))
                out.write(b"\n")
        gen.run(write)
    finally:
        if out is not sys.stdout.buffer:
            out.close()
        else:
            out.flush()
    if args.stats:
        counts = {(" ".join(k) if isinstance(k, tuple) else k): v for k, v in sorted(
            gen.stats.items(), key=lambda kv: (-kv[1], str(kv[0])))}
        print(orjson.dumps({"events": gen.count, "accounts": n_accounts,
                            "seconds": round(time.perf_counter() - t0, 3), "counts": counts}).decode(),
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
