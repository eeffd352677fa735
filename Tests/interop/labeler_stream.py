#!/usr/bin/env python3
"""BotHost's labeler read by an implementation nobody here wrote: the atproto SDK (PyPI
`atproto`) subscribes to `com.atproto.label.subscribeLabels` and calls
`com.atproto.label.queryLabels` on `bothost serve`; every frame is decoded with libipld and
every label's signature is verified against the labeler's did:key (the SDK's verifier over
libipld's DAG-CBOR of the label without `sig`).

    python3 Tests/interop/labeler_stream.py .build/debug/bothost

The scenario runs the real CLI: a key made by `bothost labeler key`, replays of captures with
opt-ins, level-ups, an opt-out, a block of the bot and a deactivation, a moderator's
`exclude` and `labeler sync`, and a restart of the server between a subscriber's two
connections (cursor replay: each label exactly once). Labels carry `exp` (expiry_days) and
negations. Ends with 'labeler: N passed, N failed'.
"""
import asyncio
import base64
import json
import os
import re
import stat
import subprocess
import sys
import tempfile
import threading

import libipld
import websockets
from atproto import Client, FirehoseSubscribeLabelsClient, models, parse_subscribe_labels_message
from atproto_crypto.verify import verify_signature

BOT = "did:plc:bothostbot0000000000000000"
LABELER = "did:plc:labeler000000000000000000"
BASE_US = 1_700_000_000_000_000
USERS = [f"did:plc:user{n:021d}" for n in range(5)]
STRANGER = "did:plc:stranger00000000000000000"

passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name}{': ' + detail if detail else ''}")


def tid(n):
    alphabet = "234567abcdefghijklmnopqrstuvwxyz"
    value = (BASE_US + n * 1000) << 10
    out = ""
    for _ in range(13):
        out = alphabet[value & 31] + out
        value >>= 5
    return out


def commit(did, rev, collection, record):
    return {"did": did, "time_us": BASE_US + rev, "kind": "commit",
            "commit": {"rev": tid(rev), "operation": "create", "collection": collection, "rkey": tid(rev),
                       "record": record, "cid": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"}}


def post(did, rev, text="hello", mention=False):
    record = {"$type": "app.bsky.feed.post", "createdAt": "2026-01-01T00:00:00Z", "text": text}
    if mention:
        record["facets"] = [{"features": [{"$type": "app.bsky.richtext.facet#mention", "did": BOT}],
                             "index": {"byteStart": 0, "byteEnd": 4}}]
    return commit(did, rev, "app.bsky.feed.post", record)


def write(path, events):
    with open(path, "w") as f:
        for event in events:
            f.write(json.dumps(event) + "\n")


def run(*args):
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result.stdout + result.stderr


class Server:
    """`bothost serve` on a free port, until stopped."""

    def __init__(self, bothost, db):
        self.process = subprocess.Popen([bothost, "serve", "--db", db, "--port", "0", "--client-rate", "0"],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if not match:
            raise SystemExit(f"bothost serve did not start: {line!r}")
        self.port = int(match.group(1))

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


def verify(did_key, label):
    """The label (a dict as decoded, with `sig` bytes) verifies: the SDK's verifier over
    libipld's encoding of the label without `sig`."""
    unsigned = {k: v for k, v in label.items() if k != "sig"}
    return len(label["sig"]) == 64 and verify_signature(did_key, libipld.encode_dag_cbor(unsigned), label["sig"])


async def read_raw(port, cursor, until_seq=None, idle=1.5, connected=None):
    """Frames of subscribeLabels, decoded with libipld: [(header, body)], until `until_seq`
    is reached or nothing came for `idle` seconds (or the server closed). `connected` (an
    asyncio.Event) is set once the WebSocket is open."""
    query = "" if cursor is None else f"?cursor={cursor}"
    frames = []
    async with websockets.connect(f"ws://127.0.0.1:{port}/xrpc/com.atproto.label.subscribeLabels{query}") as ws:
        if connected is not None:
            connected.set()
        try:
            while True:
                message = await asyncio.wait_for(ws.recv(), idle)
                header, body = libipld.decode_dag_cbor_multi(message)
                frames.append((header, body))
                if until_seq is not None and body.get("seq") == until_seq:
                    break
        except (asyncio.TimeoutError, websockets.ConnectionClosed):
            pass
    return frames


def sdk_stream(port, cursor, count):
    """The SDK's own client from `cursor`: its parsed #labels messages, `count` of them."""
    seen = []
    client = FirehoseSubscribeLabelsClient(models.ComAtprotoLabelSubscribeLabels.Params(cursor=cursor),
                                           base_uri=f"ws://127.0.0.1:{port}/xrpc")

    def on_message(message):
        parsed = parse_subscribe_labels_message(message)
        seen.append(parsed)
        if len(seen) >= count:
            client.stop()

    timer = threading.Timer(30, client.stop)
    timer.start()
    try:
        client.start(on_message)
    finally:
        timer.cancel()
    return seen


def labels_of(frames):
    return [(body["seq"], label) for header, body in frames if header.get("t") == "#labels" for label in body["labels"]]


def main():
    bothost = os.path.abspath(sys.argv[1])
    for curve in ("p256", "secp256k1"):
        print(f"-- with a {curve} key")
        scenario(bothost, curve)
    print(f"labeler: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def scenario(bothost, curve):
    work = tempfile.mkdtemp()
    key = os.path.join(work, "labeler.key")
    out = run(bothost, "labeler", "key", "--out", key, "--curve", curve)
    did_key = re.search(r"(did:key:z\w+)", out).group(1)
    secret = open(key).read().strip()
    check("the key file is mode 0600 and the key is never printed",
          stat.S_IMODE(os.stat(key).st_mode) == 0o600 and secret.split(":")[-1] not in out and len(secret.split(":")[-1]) == 64)
    check("the did:key names the curve", did_key.startswith("did:key:zDn" if curve == "p256" else "did:key:zQ3s"), did_key)
    config = os.path.join(work, "bot.yaml")
    with open(config, "w") as f:
        f.write(f"bot:\n  did: {BOT}\nleveling:\n  milestones: [2, 3]\n"
                f"labeler:\n  did: {LABELER}\n  key_file: labeler.key\n  expiry_days: 30\n")
    db = os.path.join(work, "bothost.sqlite")

    # Five accounts opt in and reach level 2 (user1 level 3); a stranger reaches level 3
    # without opting in.
    events = []
    for n, did in enumerate(USERS):
        events.append(post(did, 100 * n + 1, "@bot opt in", mention=True))
        events += [post(did, 100 * n + 2 + k) for k in range(4 if n == 1 else 1)]
    events += [post(STRANGER, 900 + k) for k in range(6)]
    write(os.path.join(work, "c1.jsonl"), events)
    out = run(bothost, "replay", os.path.join(work, "c1.jsonl"), "--db", db, "--config", config, "--dry-run")
    check("replay makes a labeler pass", "labels: 5 issued, 0 negated" in out, out[-300:])

    server = Server(bothost, db)
    try:
        frames = asyncio.run(read_raw(server.port, 0, until_seq=5))
        first = labels_of(frames)
        check("subscribeLabels from cursor 0 replays the 5 labels in order",
              [seq for seq, _ in first] == [1, 2, 3, 4, 5], str([seq for seq, _ in first]))
        check("every frame is a #labels frame (op 1) of one label",
              all(h == {"op": 1, "t": "#labels"} and len(b["labels"]) == 1 for h, b in frames))
        check("every label verifies against the labeler's did:key", all(verify(did_key, label) for _, label in first))
        values = {label["uri"]: label["val"] for _, label in first}
        check("tiers: level-two, and level-three for user1; nobody else labeled",
              values == {USERS[0]: "level-two", USERS[1]: "level-three", USERS[2]: "level-two",
                         USERS[3]: "level-two", USERS[4]: "level-two"}, str(values))
        check("labels carry src, ver 1, cts and exp (expiry_days)",
              all(label["src"] == LABELER and label["ver"] == 1 and label["exp"] > label["cts"] and "neg" not in label
                  for _, label in first))

        parsed = sdk_stream(server.port, 0, 5)
        check("the SDK's subscribeLabels client parses the same 5 messages",
              [m.seq for m in parsed] == [1, 2, 3, 4, 5]
              and [m.labels[0].val for m in parsed] == [label["val"] for _, label in first]
              and all(isinstance(m, models.ComAtprotoLabelSubscribeLabels.Labels) for m in parsed))

        client = Client(base_url=f"http://127.0.0.1:{server.port}/xrpc")

        def query(params):
            """queryLabels through the SDK's XRPC client, as the SDK's response model. The SDK's
            model does not read `{"$bytes": …}` (the data model's JSON for bytes, which the
            reference server sends too), so the signatures are decoded here first."""
            raw = client.invoke_query("com.atproto.label.queryLabels",
                                      params=models.ComAtprotoLabelQueryLabels.Params(**params),
                                      output_encoding="application/json").content
            for label in raw["labels"]:
                b64 = label["sig"]["$bytes"]
                label["sig"] = base64.b64decode(b64 + "=" * (-len(b64) % 4))
            return raw, models.ComAtprotoLabelQueryLabels.Response(**raw)

        raw, answer = query({"uri_patterns": ["*"]})
        from_query = [(l.uri, l.val, bytes(l.sig)) for l in answer.labels]
        check("queryLabels (SDK) answers the stream's labels with the same signatures",
              from_query == [(label["uri"], label["val"], label["sig"]) for _, label in first] and answer.cursor == "5")
        check("queryLabels' labels verify as served (JSON, $bytes)", all(verify(did_key, label) for label in raw["labels"]))
        _, page = query({"uri_patterns": ["did:plc:user*"], "limit": 2, "cursor": "1"})
        check("queryLabels pages with cursor and limit, by prefix", [l.uri for l in page.labels] == USERS[1:3] and page.cursor == "3")
        _, exact = query({"uri_patterns": [USERS[4], STRANGER], "sources": [LABELER]})
        check("queryLabels by exact subject and source", [l.uri for l in exact.labels] == [USERS[4]])

        # A live subscriber (no cursor) while a second replay and a moderator change state.
        async def live_then_changes():
            connected = asyncio.Event()
            task = asyncio.create_task(read_raw(server.port, None, until_seq=11, idle=60, connected=connected))
            # Open, and a moment for the server to place the subscriber at the newest label
            # (one read); the changes below take a process start and a replay besides.
            await asyncio.wait_for(connected.wait(), 60)
            await asyncio.sleep(0.5)
            second = [post(USERS[0], 10 + k) for k in range(4)]  # user0 reaches level 3
            second.append(post(USERS[2], 260, "@bot opt out", mention=True))
            second.append(commit(USERS[3], 360, "app.bsky.graph.block",
                                 {"$type": "app.bsky.graph.block", "createdAt": "2026-01-01T00:00:00Z", "subject": BOT}))
            second.append({"did": USERS[4], "time_us": BASE_US + 5_000, "kind": "account",
                           "account": {"active": False, "did": USERS[4], "seq": 5_000, "status": "deactivated",
                                       "time": "2026-01-01T00:00:00Z"}})
            write(os.path.join(work, "c2.jsonl"), second)
            replay = await asyncio.to_thread(run, bothost, "replay", os.path.join(work, "c2.jsonl"), "--db", db, "--config", config, "--dry-run")
            await asyncio.to_thread(run, bothost, "exclude", USERS[1], "--db", db, "--reason", "test")
            sync = await asyncio.to_thread(run, bothost, "labeler", "sync", "--config", config, "--db", db)
            return await task, replay, sync

        frames, replay, sync = asyncio.run(live_then_changes())
        live = labels_of(frames)
        check("the second replay negates and replaces", "labels: 1 issued, 4 negated" in replay, replay[-300:])
        check("labeler sync negates the excluded account's label", "labels: 0 issued, 1 negated" in sync, sync)
        summary = [(seq, ("-" if label.get("neg") else "+") + label["val"], label["uri"]) for seq, label in live]
        expected = [(6, "-level-two", USERS[0]), (7, "+level-three", USERS[0]), (8, "-level-two", USERS[2]),
                    (9, "-level-two", USERS[3]), (10, "-level-two", USERS[4]), (11, "-level-three", USERS[1])]
        check("a live subscriber gets each change once, in order", summary == expected, str(summary))
        negations = [label for _, label in live if label.get("neg")]
        check("negations verify, carry neg: true and no exp",
              len(negations) == 5 and all(verify(did_key, label) and label["neg"] is True and "exp" not in label for label in negations))
    finally:
        server.stop()

    # After a restart of the server, a subscriber resumes from the cursor it had.
    server = Server(bothost, db)
    try:
        resumed = labels_of(asyncio.run(read_raw(server.port, 5, until_seq=11)))
        check("after a restart, cursor 5 replays exactly 6..11", [seq for seq, _ in resumed] == [6, 7, 8, 9, 10, 11])
        check("replayed labels are byte-identical to the live ones",
              [libipld.encode_dag_cbor(label) for _, label in resumed] == [libipld.encode_dag_cbor(label) for _, label in live])
        check("a caught-up cursor gets nothing more", labels_of(asyncio.run(read_raw(server.port, 11))) == [])
        future = asyncio.run(read_raw(server.port, 999))
        check("a cursor in the future gets an error frame (FutureCursor)",
              len(future) == 1 and future[0][0] == {"op": -1} and future[0][1].get("error") == "FutureCursor", str(future))
        parsed = sdk_stream(server.port, 5, 6)
        check("the SDK's client resumes from cursor 5 too", [m.seq for m in parsed] == [6, 7, 8, 9, 10, 11])
    finally:
        server.stop()


if __name__ == "__main__":
    main()
