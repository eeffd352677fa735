#!/usr/bin/env python3
"""Smoke test for the loopback PDS harness (pds.py next to this file).

    .venv/bin/python Tests/xrpc-peer/smoke_test.py

Starts pds.py on port 0 (three times: default settings, short TTL and write
budget, and --chaos twice with one seed) and drives it with plain urllib the way
BotHost's XRPC client will: sessions, posts with facets on emoji text, duplicate
rkeys, expired and revoked tokens, injected 429/503/stall/lost responses, write
points, chat and the /_control endpoints. Prints an `ok` line per check; exits 1
on the first failure.
"""
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PDS = os.path.join(HERE, 'pds.py')
CHAT = {'atproto-proxy': 'did:web:api.bsky.chat#bsky_chat'}
BOT, ALICE = 'did:web:bot.test', 'did:web:alice.test'


def check(cond, what, detail=''):
    if not cond:
        print(f'FAIL {what} {detail}', flush=True)
        raise SystemExit(1)
    print(f'ok   {what}', flush=True)


class Peer:
    """One pds.py subprocess and a tiny XRPC client for it."""

    def __init__(self, *args):
        self.proc = subprocess.Popen(
            [sys.executable, PDS, '--port', '0', '--account', 'bot.test:bot-pass',
             '--account', 'alice.test:alice-pass', *args],
            stdout=subprocess.PIPE, text=True)
        self.accounts = {}
        for line in self.proc.stdout:
            if line.startswith('ACCOUNT '):
                fields = dict(f.split('=', 1) for f in line.split()[1:])
                self.accounts[fields['handle']] = fields['did']
            elif line.startswith('READY port='):
                self.base = f'http://127.0.0.1:{int(line.split("=")[1])}'
                break
        else:
            raise SystemExit(f'pds.py exited before READY ({self.proc.wait()})')

    def request(self, method, path, body=None, token=None, headers=None):
        """Returns (status, headers, decoded JSON body or None)."""
        data = json.dumps(body).encode() if body is not None else None
        hdrs = dict(headers or {})
        if data is not None:
            hdrs['Content-Type'] = 'application/json'
        if token:
            hdrs['Authorization'] = f'Bearer {token}'
        req = urllib.request.Request(self.base + path, data=data, headers=hdrs,
                                     method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, rhdrs, raw = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            status, rhdrs, raw = e.code, e.headers, e.read()
        return status, rhdrs, json.loads(raw) if raw else None

    def get(self, nsid, token=None, headers=None, **params):
        query = urllib.parse.urlencode(params, doseq=True)
        return self.request('GET', f'/xrpc/{nsid}?{query}', token=token, headers=headers)

    def post(self, nsid, body, token=None, headers=None):
        return self.request('POST', f'/xrpc/{nsid}', body, token=token, headers=headers)

    def control(self, path, body=None):
        return self.request('POST' if body is not None else 'GET', f'/_control/{path}',
                            body)[2]

    def login(self, handle='bot.test', password='bot-pass'):
        return self.post('com.atproto.server.createSession',
                         {'identifier': handle, 'password': password})

    def create_post(self, token, record, rkey=None, repo=BOT):
        body = {'repo': repo, 'collection': 'app.bsky.feed.post', 'record': record}
        if rkey:
            body['rkey'] = rkey
        return self.post('com.atproto.repo.createRecord', body, token)

    def posts(self, did=BOT):
        return self.control(f'records?did={did}&collection=app.bsky.feed.post')

    def stop(self):
        self.proc.terminate()
        return self.proc.wait(timeout=10)


def utf8_slice(text, sub):
    start = len(text[:text.index(sub)].encode())
    return {'byteStart': start, 'byteEnd': start + len(sub.encode())}


def post_record(text='hello', **extra):
    return {'$type': 'app.bsky.feed.post', 'text': text,
            'createdAt': '2026-01-02T03:04:05.678Z', **extra}


def test_main():
    peer = Peer()
    check(peer.accounts == {'bot.test': BOT, 'alice.test': ALICE}, 'ACCOUNT lines')

    status, _, body = peer.login(password='wrong')
    check(status == 401 and body == {'error': 'AuthenticationRequired',
                                     'message': 'Invalid identifier or password'},
          'wrong password -> 401 AuthenticationRequired', body)
    status, _, sess = peer.login()
    check(status == 200 and sess['did'] == BOT and sess['active'] is True
          and sess['accessJwt'] != sess['refreshJwt'], 'createSession by handle')
    status, _, by_did = peer.login(BOT)
    check(status == 200 and by_did['handle'] == 'bot.test', 'createSession by did')
    token = sess['accessJwt']
    status, _, body = peer.get('com.atproto.server.getSession', token=token)
    check(status == 200 and body['did'] == BOT, 'getSession')
    status, _, body = peer.get('com.atproto.server.getSession')
    check(status == 401 and body['error'] == 'AuthenticationRequired', 'no token -> 401')
    status, _, body = peer.get('com.atproto.server.getSession', token='garbage')
    check(status == 401 and body['error'] == 'InvalidToken', 'bad token -> 401 InvalidToken')
    status, _, body = peer.get('com.atproto.server.getSession', token=sess['refreshJwt'])
    check(status == 400 and body['error'] == 'InvalidToken',
          'refresh token as access -> 400 InvalidToken')
    points = 0

    # A post with a mention facet on emoji text, a link, a tag, langs, a reply.
    text = '👋🏽 héllo @alice.test ✨ see https://example.com #bots 👨‍👩‍👧'
    facets = [
        {'index': utf8_slice(text, '@alice.test'),
         'features': [{'$type': 'app.bsky.richtext.facet#mention', 'did': ALICE}]},
        {'index': utf8_slice(text, 'https://example.com'),
         'features': [{'$type': 'app.bsky.richtext.facet#link',
                       'uri': 'https://example.com'}]},
        {'index': utf8_slice(text, '#bots'),
         'features': [{'$type': 'app.bsky.richtext.facet#tag', 'tag': 'bots'}]},
    ]
    check(facets[0]['index'] == {'byteStart': 16, 'byteEnd': 27},
          'mention offsets are UTF-8 bytes')
    status, hdrs, created = peer.create_post(token, post_record(text, facets=facets,
                                                                langs=['en', 'pt-BR']))
    points += 3
    check(status == 200 and created['uri'].startswith(f'at://{BOT}/app.bsky.feed.post/'),
          'createRecord post with facets', created)
    check(hdrs['RateLimit-Limit'] == '5000' and hdrs['RateLimit-Remaining'] == '4997'
          and hdrs['RateLimit-Policy'] == '5000;w=3600'
          and 0 < int(hdrs['RateLimit-Reset']) - time.time() <= 3601,
          'RateLimit-* headers on a write', dict(hdrs))
    rkey = created['uri'].rsplit('/', 1)[1]
    status, _, got = peer.get('com.atproto.repo.getRecord', repo='bot.test',
                              collection='app.bsky.feed.post', rkey=rkey)
    check(status == 200 and got['value']['text'] == text
          and got['value']['facets'] == facets and got['cid'] == created['cid'],
          'getRecord round-trips text and facets')

    reply = {'root': {'uri': created['uri'], 'cid': created['cid']},
             'parent': {'uri': created['uri'], 'cid': created['cid']}}
    status, _, body = peer.create_post(token, post_record('a reply', reply=reply))
    points += 3
    check(status == 200, 'createRecord reply', body)

    status, _, body = peer.create_post(token, post_record('x' * 301))
    points += 3  # charged like the reference PDS: points are spent before validation
    check(status == 400 and body['error'] == 'InvalidRequest'
          and 'maxGraphemes' in body['message'], 'text over 300 graphemes refused', body)

    tid = '3lzzzzzzzzzz2'
    status, _, body = peer.create_post(token, post_record('first'), rkey=tid)
    points += 3
    check(status == 200 and body['uri'].endswith('/' + tid), 'createRecord explicit rkey')
    status, _, body = peer.create_post(token, post_record('second'), rkey=tid)
    points += 3
    check(status == 400 and body == {'error': 'InvalidRequest',
                                     'message': 'Record already exists'},
          'duplicate rkey refused', body)
    status, _, got = peer.get('com.atproto.repo.getRecord', repo=BOT,
                              collection='app.bsky.feed.post', rkey=tid)
    check(got['value']['text'] == 'first', 'duplicate did not overwrite')

    status, _, body = peer.create_post(token, post_record('not mine'), repo=ALICE)
    points += 3
    check(status == 401, 'write to another repo -> 401', body)

    status, _, body = peer.post('com.atproto.repo.deleteRecord',
                                {'repo': BOT, 'collection': 'app.bsky.feed.post',
                                 'rkey': tid}, token)
    points += 1
    check(status == 200 and 'commit' in body, 'deleteRecord', body)
    status, _, body = peer.get('com.atproto.repo.getRecord', repo=BOT,
                               collection='app.bsky.feed.post', rkey=tid)
    check(status == 400 and body['error'] == 'RecordNotFound', 'deleted record gone')

    profile = {'$type': 'app.bsky.actor.profile', 'displayName': 'Bot 🤖',
               'labels': {'$type': 'com.atproto.label.defs#selfLabels',
                          'values': [{'val': 'bot'}]}}
    status, _, body = peer.post('com.atproto.repo.putRecord',
                                {'repo': BOT, 'collection': 'app.bsky.actor.profile',
                                 'rkey': 'self', 'record': profile}, token)
    points += 2
    check(status == 200, 'putRecord profile/self', body)
    status, _, body = peer.get('app.bsky.actor.getProfile', actor='bot.test')
    check(status == 200 and body['displayName'] == 'Bot 🤖'
          and [l['val'] for l in body['labels']] == ['bot'], 'getProfile with self-labels',
          body)
    status, _, body = peer.get('app.bsky.actor.getProfile', actor='nobody.test')
    check(status == 400 and body['message'] == 'Profile not found', 'getProfile unknown')
    status, _, body = peer.get('com.atproto.identity.resolveHandle', handle='alice.test')
    check(status == 200 and body['did'] == ALICE, 'resolveHandle')

    status, _, body = peer.get('com.atproto.repo.listRecords', repo=BOT,
                               collection='app.bsky.feed.post')
    check(status == 200 and len(body['records']) == 2, 'listRecords')
    check(len(peer.posts()) == 2, '/_control/records')

    # Expired access token, refresh, single-use refresh, forced re-login.
    peer.control('faults', {'expire_tokens': True})
    status, _, body = peer.create_post(token, post_record('after expiry'))
    check(status == 400 and body == {'error': 'ExpiredToken',
                                     'message': 'Token has expired'},
          'expired access token -> 400 ExpiredToken', body)
    status, _, fresh = peer.post('com.atproto.server.refreshSession', None,
                                 sess['refreshJwt'])
    check(status == 200 and fresh['did'] == BOT, 'refreshSession', fresh)
    status, _, body = peer.post('com.atproto.server.refreshSession', None,
                                sess['refreshJwt'])
    check(status == 400 and body == {'error': 'ExpiredToken',
                                     'message': 'Token has been revoked'},
          'refresh token is single use', body)
    token = fresh['accessJwt']
    status, _, body = peer.create_post(token, post_record('after refresh'))
    points += 3
    check(status == 200, 'new access token works')
    peer.control('faults', {'revoke_refresh': True})
    status, _, body = peer.post('com.atproto.server.refreshSession', None,
                                fresh['refreshJwt'])
    check(status == 400 and body['error'] == 'ExpiredToken', 'revoke_refresh')

    # Injected 429, 503, stall and lost response.
    before = len(peer.posts())
    peer.control('faults', {'rate_limit': {'count': 1, 'reset_in': 2}})
    status, hdrs, body = peer.create_post(token, post_record('limited'))
    check(status == 429 and body['error'] == 'RateLimitExceeded'
          and hdrs['RateLimit-Remaining'] == '0'
          and 1 <= int(hdrs['RateLimit-Reset']) - time.time() <= 3
          and hdrs['RateLimit-Limit'] == '5000' and 'RateLimit-Policy' in hdrs,
          'injected 429 with RateLimit-* headers', dict(hdrs))
    peer.control('faults', {'status': 503, 'count': 2})
    statuses = [peer.create_post(token, post_record(f'try {i}'))[0] for i in range(3)]
    points += 3
    check(statuses == [503, 503, 200], 'injected 503 x2 then success', statuses)
    check(len(peer.posts()) == before + 1, 'faulted writes were not applied')

    peer.control('faults', {'stall': {'count': 1, 'seconds': 2}})
    slow = {}
    thread = threading.Thread(target=lambda: slow.update(
        r=peer.get('com.atproto.server.describeServer'), t=time.time()))
    thread.start()
    time.sleep(0.3)
    status, _, _ = peer.get('com.atproto.server.describeServer')
    fast_done = time.time()
    thread.join()
    check(status == 200 and slow['r'][0] == 200 and slow['t'] - fast_done > 1,
          'stalled request does not block others')

    peer.control('faults', {'lost_response': {'count': 1}})
    status, _, body = peer.create_post(token, post_record('applied but lost'))
    points += 3
    check(status == 502 and body['error'] == 'UpstreamFailure', 'lost response -> 502')
    check(any(r['value']['text'] == 'applied but lost' for r in peer.posts()),
          'lost-response write was applied')
    peer.control('faults', {'status': 500, 'count': 5})
    peer.control('reset', {})
    check(peer.get('com.atproto.server.describeServer')[0] == 200, '/_control/reset')

    # Chat through the proxy header.
    status, _, body = peer.get('chat.bsky.convo.getConvoForMembers', token=token,
                               members=[BOT, ALICE])
    check(status == 400 and body['error'] == 'InvalidRequest', 'chat without proxy -> 400')
    status, _, convo = peer.get('chat.bsky.convo.getConvoForMembers', token=token,
                                headers=CHAT, members=[BOT, ALICE])
    check(status == 200 and sorted(m['did'] for m in convo['convo']['members'])
          == sorted([BOT, ALICE]), 'getConvoForMembers', convo)
    _, _, again = peer.get('chat.bsky.convo.getConvoForMembers', token=token,
                           headers=CHAT, members=[ALICE])
    check(again['convo']['id'] == convo['convo']['id'], 'convo id is stable')
    dm = 'hi @alice.test 👋'
    dm_facets = [{'index': utf8_slice(dm, '@alice.test'),
                  'features': [{'$type': 'app.bsky.richtext.facet#mention', 'did': ALICE}]}]
    status, _, sent = peer.post('chat.bsky.convo.sendMessage',
                                {'convoId': convo['convo']['id'],
                                 'message': {'text': dm, 'facets': dm_facets}},
                                token, CHAT)
    check(status == 200 and sent['sender']['did'] == BOT and sent['text'] == dm,
          'sendMessage', sent)
    messages = peer.control('messages')
    check(len(messages) == 1 and messages[0]['text'] == dm
          and messages[0]['facets'] == dm_facets and messages[0]['sender'] == BOT,
          '/_control/messages')

    stats = peer.control('stats')
    log = peer.control('log')
    check(stats['points'] == {BOT: points}, f'stats points = {points}', stats['points'])
    check(stats['created'] == 6 and stats['overruns'] == 0, 'stats created/overruns',
          stats)
    check(stats['requests'] == len(log) and all(
        set(e) >= {'method', 'nsid', 'status', 'time'} for e in log), '/_control/log')
    check(peer.stop() == 0, 'SIGTERM exits 0')


def test_ttl_and_budget():
    peer = Peer('--access-ttl', '1', '--write-limit', '7', '--write-window', '2')
    _, _, sess = peer.login()
    time.sleep(2.1)
    status, _, body = peer.get('com.atproto.server.getSession', token=sess['accessJwt'])
    check(status == 400 and body['message'] == 'Token has expired', 'access TTL expires')
    _, _, fresh = peer.post('com.atproto.server.refreshSession', None, sess['refreshJwt'])
    token = fresh['accessJwt']
    results = [peer.create_post(token, post_record(f'n{i}')) for i in range(3)]
    statuses = [r[0] for r in results]
    check(statuses == [200, 200, 429], 'write budget: 3+3 admitted, next refused',
          statuses)
    hdrs, body = results[2][1], results[2][2]
    check(body == {'error': 'RateLimitExceeded', 'message': 'Rate Limit Exceeded'}
          and hdrs['RateLimit-Remaining'] == '0' and hdrs['RateLimit-Policy'] == '7;w=2',
          '429 body and headers')
    status, _, _ = peer.post('com.atproto.repo.deleteRecord',
                             {'repo': BOT, 'collection': 'app.bsky.feed.post',
                              'rkey': results[0][2]['uri'].rsplit('/', 1)[1]}, token)
    check(status == 429, 'a refused write spends the window')
    time.sleep(max(0, int(hdrs['RateLimit-Reset']) - time.time()) + 0.1)
    token = peer.login()[2]['accessJwt']
    status, hdrs, _ = peer.create_post(token, post_record('next window'))
    check(status == 200 and hdrs['RateLimit-Remaining'] == '4', 'budget resets')
    stats = peer.control('stats')
    check(stats['points'] == {BOT: 9} and stats['overruns'] == 2, 'stats after overruns',
          stats)
    peer.stop()


def chaos_run(seed, writes=60):
    """A deterministic client against --chaos: returns (statuses, peer stats)."""
    peer = Peer('--chaos', str(seed))
    statuses = []

    def call(fn):
        status, _, body = fn()
        statuses.append(status)
        return status, body

    def login():
        while True:
            status, body = call(peer.login)
            if status == 200:
                return body
    sess = login()
    ok = 0
    for i in range(writes):
        status, body = call(lambda: peer.create_post(sess['accessJwt'],
                                                     post_record(f'c{i}')))
        ok += status == 200
        if status == 400 and body.get('error') == 'ExpiredToken':
            status, body = call(lambda: peer.post('com.atproto.server.refreshSession',
                                                  None, sess['refreshJwt']))
            sess = body if status == 200 else login()
    stored = len(peer.posts())
    log = peer.control('log')
    peer.stop()
    lost = sum(e['fault'] == 'lost_response' for e in log)
    return statuses, ok, lost, stored, log


def test_chaos():
    # Seed 1 happens to hit every kind of fault within 60 writes.
    statuses, ok, lost, stored, log = chaos_run(1)
    check(statuses == chaos_run(1)[0], 'chaos is deterministic for a seed')
    kinds = {s for s in statuses if s != 200}
    check(kinds >= {400, 429, 502, 503}, f'chaos answered {sorted(kinds)}')
    faults = {e['fault'] for e in log}
    check(faults >= {'stall', 'lost_response', 'rate_limit', 'status'},
          f'chaos faults {sorted(f for f in faults if f)}')
    check(any(e['nsid'] == 'com.atproto.server.refreshSession' for e in log),
          'chaos expired the access tokens')
    check(stored == ok + lost, f'chaos: stored {stored} = {ok} ok + {lost} lost')


if __name__ == '__main__':
    test_main()
    test_ttl_and_budget()
    test_chaos()
    print('ok   all', flush=True)
