#!/usr/bin/env python3
"""A real AT Protocol PDS on loopback, for BotHost's XRPC client tests.

    .venv/bin/python Tests/xrpc-peer/pds.py --port 0 [--account handle:password ...]
        [--access-ttl S] [--refresh-ttl S] [--write-limit POINTS --write-window S]
        [--chaos SEED] [--verbose]

Prints `ACCOUNT handle=<h> did=<did>` per account (the first is the bot), then
`READY port=<n>`, then serves on 127.0.0.1 until SIGTERM/SIGINT. Nothing else goes
to stdout; logs go to stderr (warnings only unless --verbose).

The repository side is arroba's, unchanged: its com.atproto.repo/server/identity/
sync handlers, a MemoryStorage with real MSTs, CIDs and signed commits, and lexrpc
validating every request, response and record against the official lexicons.

What this file adds, and why (a real PDS has all of it; arroba has none of it):
  * Sessions. arroba's auth is a single global token. Here createSession and
    refreshSession issue HS256 access tokens (scope com.atproto.access) and single-use
    refresh tokens (com.atproto.refresh); every authenticated call checks its bearer
    as the reference PDS does: expired -> 400 ExpiredToken, missing -> 401
    AuthenticationRequired, bad -> 401 InvalidToken, wrong scope -> 400 InvalidToken.
    A write to a repo needs a token for that repo's DID.
  * createRecord refuses an rkey that already exists (arroba silently turns it into
    an update) and, like the reference PDS, fills in a missing record `$type` from
    the collection and refuses a mismatching one (arroba would store a record with
    no `$type` unvalidated). deleteRecord answers {commit} (arroba's returns
    nothing, which lexrpc's output check turns into a 400 after deleting).
  * Per-DID write points (create 3, update 2, delete 1) in a fixed window, with
    RateLimit-* headers on every write and 429 RateLimitExceeded past the budget.
  * Fault injection (/_control/faults) and a seeded --chaos mode: 5xx, 429, stalls,
    expired and revoked tokens, and the write that is applied but answered 502.
  * What a PDS proxies elsewhere: chat.bsky.convo.getConvoForMembers/sendMessage
    (behind `atproto-proxy: did:web:api.bsky.chat#bsky_chat`) and
    app.bsky.actor.getProfile and getProfiles (25 actors at most, unknown ones left
    out, handle.invalid for a DID marked unverified). resolveHandle and DID documents are answered
    locally instead of through DNS/HTTPS.
  * /_control/* JSON endpoints for the tests: request log, stats, records straight
    from storage, and chat messages sent. They are never faulted or rate limited.

Control endpoints (plain JSON, no auth; faults apply to /xrpc/* only, in arrival
order; every fault may carry "nsid" to hit only that method, "count" defaults to 1):
  POST /_control/faults  {"status": 503, "count": 2 [, "error", "message", "nsid"]}
                         {"rate_limit": {"count": 1, "reset_in": 2}}
                         {"stall": {"count": 1, "seconds": 10}}  (then answers normally)
                         {"lost_response": {"count": 1}}  (next write applied, then 502)
                         {"expire_tokens": true}  {"revoke_refresh": true}
                         {"chaos": SEED or null}  (same as --chaos, switched at run time)
  POST /_control/reset   drops pending faults (not chaos, not expired tokens)
  GET  /_control/log       [{"method", "nsid", "status", "time", "fault", "did"?}]
  GET  /_control/stats     {"points": {did: n}, "overruns", "requests", "created", ...}
  GET  /_control/records?did=&collection=   [{"uri", "cid", "value"}] from storage
  GET  /_control/messages  [{"convoId", "members", "sender", "text", "facets", ...}]
  POST /_control/unverified {"did": DID}  getProfile(s) answer handle.invalid for it

Write points are spent once the token is verified, before the handler runs (as the
reference PDS's limiter does), so a write refused by validation still costs them;
injected faults are decided before that and cost nothing.

Accounts use did:web:<handle>: nothing resolves it over the network, because
arroba.did.resolve is patched to answer for local repos, so no PLC directory is
needed.
"""
import argparse
import hashlib
import json
import logging
import random
import secrets
import signal
import sys
import threading
import time
import types
from datetime import datetime, timezone


def _stub_missing_gcp_modules():
    """arroba.xrpc_sync imports its Google Cloud Datastore storage and firehose
    modules, which need google-cloud-ndb; only getBlob/listBlobs/subscribeRepos
    use them. Stub them when absent so the rest of com.atproto.sync registers."""
    try:
        import arroba.datastore_storage  # noqa: F401
        return
    except ImportError:
        pass
    ds = types.ModuleType('arroba.datastore_storage')
    for name in ('AtpBlock', 'AtpRemoteBlob', 'AtpRepo', 'DatastoreStorage'):
        setattr(ds, name, type(name, (), {}))
    sys.modules['arroba.datastore_storage'] = ds
    try:
        import google.auth.credentials  # noqa: F401
    except ImportError:
        for name in ('google', 'google.auth', 'google.auth.credentials'):
            sys.modules.setdefault(name, types.ModuleType(name))
        sys.modules['google.auth.credentials'].AnonymousCredentials = type(
            'AnonymousCredentials', (), {})


_stub_missing_gcp_modules()

import dag_json  # noqa: E402  (arroba/lexrpc dependency)
import flask  # noqa: E402
import jwt  # noqa: E402
from werkzeug.exceptions import HTTPException  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

import arroba.did  # noqa: E402
import arroba.server  # noqa: E402
import arroba.storage  # noqa: E402
import arroba.util  # noqa: E402
import arroba.xrpc_identity  # noqa: E402,F401  (registers handlers)
import arroba.xrpc_repo  # noqa: E402
import arroba.xrpc_server  # noqa: E402,F401
import arroba.xrpc_sync  # noqa: E402,F401
from arroba.repo import Repo  # noqa: E402
from lexrpc.base import XrpcError  # noqa: E402
from lexrpc.flask_server import init_flask  # noqa: E402

log = logging.getLogger('pds')

ACCESS_SCOPE = 'com.atproto.access'
REFRESH_SCOPE = 'com.atproto.refresh'
AUDIENCE = 'did:web:localhost'
CHAT_PROXY = 'did:web:api.bsky.chat#bsky_chat'

# Write costs, as the reference PDS counts them.
POINTS = {'create': 3, 'update': 2, 'delete': 1}
WRITE_NSIDS = {
    'com.atproto.repo.createRecord': 'create',
    'com.atproto.repo.putRecord': 'update',
    'com.atproto.repo.deleteRecord': 'delete',
    'com.atproto.repo.applyWrites': None,  # per op
}
# Non-idempotent calls that the "applied but answered 502" fault may hit.
LOSSY_NSIDS = set(WRITE_NSIDS) | {'chat.bsky.convo.sendMessage'}

ACCESS_AUTH = {
    'com.atproto.repo.createRecord', 'com.atproto.repo.putRecord',
    'com.atproto.repo.deleteRecord', 'com.atproto.repo.applyWrites',
    'com.atproto.repo.uploadBlob', 'com.atproto.server.getSession',
    'app.bsky.actor.getPreferences', 'app.bsky.actor.putPreferences',
    'chat.bsky.convo.getConvoForMembers', 'chat.bsky.convo.sendMessage',
}
OPTIONAL_AUTH = {'app.bsky.actor.getProfile', 'app.bsky.actor.getProfiles'}  # checked only if a bearer is sent
REFRESH_AUTH = {'com.atproto.server.refreshSession',
                'com.atproto.server.deleteSession'}

xrpc = arroba.server.server
LOCK = threading.RLock()  # guards storage and all harness state below


def now_iso():
    return datetime.now(timezone.utc).isoformat(timespec='milliseconds').replace(
        '+00:00', 'Z')


def error_response(status, error, message, headers=None):
    resp = flask.jsonify(error=error, message=message)
    resp.status_code = status
    resp.headers.update(headers or {})
    return resp


def default_error_name(status):
    return {400: 'InvalidRequest', 401: 'AuthenticationRequired',
            429: 'RateLimitExceeded', 502: 'UpstreamFailure'}.get(
                status, 'InternalServerError')


# ---------------------------------------------------------------- harness state

class State:
    """Everything the harness adds to arroba, set up by main()."""

    def __init__(self, args):
        self.args = args
        self.storage = arroba.storage.MemoryStorage()
        self.accounts = {}  # did -> {"did", "handle", "password"}
        self.port = None
        self.secret = secrets.token_bytes(32)
        self.token_seq = 0
        self.access_expired_below = 0  # access tokens with n below this are expired
        self.live_refresh = {}  # jti -> did; a refresh token is good once
        self.buckets = {}  # did -> [points used, window end]
        self.faults = {k: [] for k in ('status', 'rate_limit', 'stall', 'lost_response')}
        self.unverified = set()  # DIDs whose handle the AppView reports as handle.invalid
        self.chaos = random.Random(args.chaos) if args.chaos is not None else None
        self.log = []
        self.stats = {'points': {}, 'overruns': 0, 'requests': 0, 'created': 0,
                      'logins': 0, 'refreshes': 0, 'injected': {}, 'lost_responses': 0}
        self.overruns = []
        self.convos = {}  # id -> [member dids]
        self.messages = []

    # tokens ------------------------------------------------------------
    def issue_session(self, did):
        now = int(time.time())
        self.token_seq += 1
        jti = secrets.token_urlsafe(16)
        self.live_refresh[jti] = did
        access = jwt.encode({'scope': ACCESS_SCOPE, 'sub': did, 'aud': AUDIENCE,
                             'iat': now, 'exp': now + self.args.access_ttl,
                             'n': self.token_seq}, self.secret, algorithm='HS256')
        refresh = jwt.encode({'scope': REFRESH_SCOPE, 'sub': did, 'aud': AUDIENCE,
                              'iat': now, 'exp': now + self.args.refresh_ttl,
                              'jti': jti}, self.secret, algorithm='HS256')
        account = self.accounts[did]
        return {'did': did, 'handle': account['handle'], 'accessJwt': access,
                'refreshJwt': refresh, 'active': True}

    def verify(self, header, scope):
        """Returns the claims of a valid bearer token of `scope`, else raises."""
        kind, _, token = (header or '').partition(' ')
        if kind.lower() != 'bearer' or not token.strip():
            raise XrpcError('Authentication Required', name='AuthenticationRequired',
                            status=401)
        try:
            claims = jwt.decode(token.strip(), self.secret, algorithms=['HS256'],
                                audience=AUDIENCE)
        except jwt.ExpiredSignatureError:
            raise XrpcError('Token has expired', name='ExpiredToken', status=400)
        except jwt.InvalidTokenError:
            raise XrpcError('Token could not be verified', name='InvalidToken',
                            status=401)
        if claims.get('scope') != scope:
            raise XrpcError('Bad token scope', name='InvalidToken', status=400)
        if scope == ACCESS_SCOPE and claims.get('n', 0) < self.access_expired_below:
            raise XrpcError('Token has expired', name='ExpiredToken', status=400)
        if scope == REFRESH_SCOPE and claims.get('jti') not in self.live_refresh:
            raise XrpcError('Token has been revoked', name='ExpiredToken', status=400)
        if claims.get('sub') not in self.accounts:
            raise XrpcError('Token could not be verified', name='InvalidToken',
                            status=401)
        return claims

    def expire_access_tokens(self):
        self.access_expired_below = self.token_seq + 1

    # rate limits ---------------------------------------------------------
    def rate_headers(self, remaining, reset):
        return {'RateLimit-Limit': str(self.args.write_limit),
                'RateLimit-Remaining': str(max(0, remaining)),
                'RateLimit-Reset': str(int(reset)),
                'RateLimit-Policy': f'{self.args.write_limit};w={self.args.write_window}'}

    def charge(self, did, nsid, cost):
        """Counts a write. Returns (admitted, headers)."""
        now = time.time()
        bucket = self.buckets.get(did)
        if not bucket or now >= bucket[1]:
            bucket = self.buckets[did] = [0, int(now + self.args.write_window + 0.999)]
        limit = self.args.write_limit
        if bucket[0] + cost > limit:
            # Like the reference PDS's limiter: a refused write still spends the
            # window, so Remaining stays 0 until Reset.
            bucket[0] = limit
            self.stats['overruns'] += 1
            self.overruns.append({'did': did, 'nsid': nsid, 'cost': cost, 'time': now})
            return False, self.rate_headers(0, bucket[1])
        bucket[0] += cost
        points = self.stats['points']
        points[did] = points.get(did, 0) + cost
        return True, self.rate_headers(limit - bucket[0], bucket[1])

    # faults ----------------------------------------------------------------
    def take_fault(self, kind, nsid):
        """Consumes and returns the first queued fault of `kind` matching nsid."""
        queue = self.faults[kind]
        for fault in queue:
            if fault.get('nsid') in (None, nsid):
                if kind == 'lost_response' and nsid not in LOSSY_NSIDS:
                    continue
                fault['count'] -= 1
                if fault['count'] <= 0:
                    queue.remove(fault)
                return fault
        return None

    def note_injected(self, kind):
        injected = self.stats['injected']
        injected[kind] = injected.get(kind, 0) + 1

    def chaos_draw(self, nsid):
        """One deterministic draw per XRPC request (in arrival order)."""
        if not self.chaos:
            return None
        r, r_expire = self.chaos.random(), self.chaos.random()
        if r_expire < 1 / 40:
            self.expire_access_tokens()
            self.note_injected('chaos_expire_tokens')
        if r < 0.05:
            return {'kind': 'status', 'status': 502}
        if r < 0.10:
            return {'kind': 'status', 'status': 503}
        if r < 0.15:
            return {'kind': 'rate_limit', 'reset_in': 1}
        if r < 0.17:
            return {'kind': 'stall', 'seconds': 3}
        if r < 0.20 and nsid in LOSSY_NSIDS:
            return {'kind': 'lost_response', 'status': 502}
        return None


S = None  # the State, set by main()


# ---------------------------------------------------------------- arroba patches

def authenticate():
    """Replaces arroba.server.authenticate: the DID proven by the bearer token that
    the before_request gate already verified."""
    did = flask.g.get('did')
    if not did:
        raise XrpcError('Authentication Required', name='AuthenticationRequired',
                        status=401)
    return did, arroba.server.ALL_SCOPES


def authorize(did, writes):
    """Replaces arroba.server.authorize: a repo is written only with its own token
    (401, as the reference PDS answers, instead of arroba's 400)."""
    authed_did, _ = authenticate()
    if authed_did != did:
        raise XrpcError('Authentication Required', name='AuthenticationRequired',
                        status=401)
    return authed_did


def resolve_did(did, **kwargs):
    """Replaces arroba.did.resolve: DID documents of local repos only, no network."""
    repo = S.storage.load_repo(did) if did else None
    if not repo or repo.did != did:
        raise ValueError(f'{did} is not a DID on this server')
    key = arroba.did.encode_did_key(repo.signing_key.public_key())
    return {
        '@context': ['https://www.w3.org/ns/did/v1',
                     'https://w3id.org/security/multikey/v1'],
        'id': did,
        'alsoKnownAs': [f'at://{repo.handle}'],
        'verificationMethod': [{'id': f'{did}#atproto', 'type': 'Multikey',
                                'controller': did,
                                'publicKeyMultibase': key.removeprefix('did:key:')}],
        'service': [{'id': '#atproto_pds', 'type': 'AtprotoPersonalDataServer',
                     'serviceEndpoint': f'http://127.0.0.1:{S.port}'}],
    }


def check_record_type(collection, record):
    """As the reference PDS: `$type` defaults to the collection and must match it."""
    if not isinstance(record, dict):
        raise XrpcError('Record must be an object', name='InvalidRequest', status=400)
    record_type = record.setdefault('$type', collection)
    if record_type != collection:
        raise XrpcError(f'Invalid $type: expected {collection}, got {record_type}',
                        name='InvalidRequest', status=400)


def create_record(input):
    check_record_type(input.get('collection'), input.get('record'))
    rkey = input.get('rkey') or arroba.util.next_tid()
    repo = arroba.server.load_repo(input['repo'])
    if repo.get_record(input['collection'], rkey) is not None:
        raise XrpcError('Record already exists', name='InvalidRequest', status=400)
    input['rkey'] = rkey
    return arroba.xrpc_repo.create_record(input)


def put_record(input):
    check_record_type(input.get('collection'), input.get('record'))
    return arroba.xrpc_repo.put_record(input)


def delete_record(input):
    """arroba's handler returns None, which lexrpc's output validation turns into a
    400 after the delete was applied; answer {commit} as the reference PDS does."""
    repo = arroba.server.load_repo(input['repo'])
    head = repo.head
    arroba.xrpc_repo.delete_record(input)
    repo = arroba.server.load_repo(input['repo'])
    if repo.head == head:
        return {}  # nothing to delete: a no-op, not an error (sent as {})
    return {'commit': {'cid': repo.head.cid.encode('base32'),
                       'rev': repo.head.decoded['rev']}}


def apply_writes(input):
    for write in input.get('writes') or []:
        if not str(write.get('$type', '')).endswith('#delete'):
            check_record_type(write.get('collection'), write.get('value'))
    return arroba.xrpc_repo.apply_writes(input)


def create_session(input):
    ident = input['identifier']
    ident = ident if ident.startswith('did:') else ident.lower()
    account = next((a for a in S.accounts.values()
                    if ident in (a['did'], a['handle'])), None)
    if not account or not secrets.compare_digest(
            (input.get('password') or '').encode(), account['password'].encode()):
        raise XrpcError('Invalid identifier or password',
                        name='AuthenticationRequired', status=401)
    S.stats['logins'] += 1
    return S.issue_session(account['did'])


def refresh_session(input):
    S.live_refresh.pop(flask.g.refresh_jti, None)  # single use
    S.stats['refreshes'] += 1
    return S.issue_session(flask.g.did)


def delete_session(input):
    S.live_refresh.pop(flask.g.refresh_jti, None)


def get_session(input):
    account = S.accounts[flask.g.did]
    return {'did': account['did'], 'handle': account['handle'], 'active': True}


def describe_server(input):
    return {'did': AUDIENCE, 'availableUserDomains': ['.test']}


def resolve_handle(input, handle=None):
    repo = S.storage.load_repo(handle.lower()) if handle else None
    if not repo or repo.handle != handle.lower():
        raise XrpcError('Unable to resolve handle', name='HandleNotFound', status=400)
    return {'did': repo.did}


def get_profile(input, actor=None):
    repo = S.storage.load_repo(actor) if actor else None
    if not repo:
        raise XrpcError('Profile not found', name='InvalidRequest', status=400)
    # The AppView's answer for a handle that does not verify both ways.
    handle = 'handle.invalid' if repo.did in S.unverified else repo.handle
    out = {'did': repo.did, 'handle': handle, 'labels': []}
    record = repo.get_record('app.bsky.actor.profile', 'self')
    if record:
        for field in ('displayName', 'description', 'createdAt'):
            if record.get(field):
                out[field] = record[field]
        uri = arroba.util.at_uri(repo.did, 'app.bsky.actor.profile', 'self')
        for label in (record.get('labels') or {}).get('values') or []:
            out['labels'].append({'src': repo.did, 'uri': uri, 'val': label['val'],
                                  'cts': record.get('createdAt') or now_iso()})
    return out


def get_profiles(input, actors=()):
    """What the AppView answers (the reference PDS proxies it): the profiles of the actors
    it knows, in the order asked; unknown ones are left out, not an error. The lexicon's
    maxLength (25) is checked by lexrpc before this runs."""
    if isinstance(actors, str):
        actors = [actors]
    if len(actors) > 25:
        raise XrpcError('actors must not have more than 25 elements', name='InvalidRequest', status=400)
    profiles = []
    for actor in actors:
        try:
            profiles.append(get_profile(input, actor=actor))
        except XrpcError:
            continue
    return {'profiles': profiles}


def get_convo_for_members(input, members=()):
    dids = sorted(set(members) | {flask.g.did})
    views = []
    for did in dids:
        repo = S.storage.load_repo(did)
        if not repo:
            raise XrpcError(f'Recipient {did} not found', name='InvalidRequest',
                            status=400)
        views.append({'did': repo.did, 'handle': repo.handle})
    convo_id = hashlib.sha256('\n'.join(dids).encode()).hexdigest()[:16]
    S.convos[convo_id] = dids
    return {'convo': {'id': convo_id, 'rev': '1', 'members': views,
                      'muted': False, 'unreadCount': 0}}


def send_message(input):
    members = S.convos.get(input['convoId'])
    if not members or flask.g.did not in members:
        raise XrpcError('Convo not found', name='InvalidConvo', status=400)
    message = input['message']
    sent = {'id': arroba.util.next_tid(), 'rev': arroba.util.next_tid(),
            'text': message['text'], 'sender': {'did': flask.g.did},
            'sentAt': now_iso()}
    if message.get('facets'):
        sent['facets'] = message['facets']
    S.messages.append({'convoId': input['convoId'], 'members': members,
                       'sender': flask.g.did, 'text': message['text'],
                       'facets': message.get('facets') or [], 'id': sent['id'],
                       'sentAt': sent['sentAt']})
    return sent


def patch_string_refs():
    """lexrpc 3.0 takes a string where a `ref` is expected for a token name, so a ref to a
    string def is refused for any value but the def's own name. Such refs exist:
    `app.bsky.labeler.service` lists `com.atproto.label.defs#labelValue`, a string with
    knownValues (an open set), and the reference PDS stores any string there (custom label
    values such as `level-five`). Validate such a value as that string, as the reference does."""
    import lexrpc.base
    original = lexrpc.base.Base._validate_schema

    def validate(self, *, name, val, type_name, lexicon, schema, ignore=()):
        if isinstance(val, str) and isinstance(schema, dict) and schema.get('type') == 'ref':
            ref = schema['ref']
            full = lexicon.split('#')[0] + ref if ref.startswith('#') else ref
            target = self._get_def(full)
            if isinstance(target, dict) and target.get('type') == 'string':
                schema = target
        return original(self, name=name, val=val, type_name=type_name, lexicon=lexicon, schema=schema, ignore=ignore)
    lexrpc.base.Base._validate_schema = validate


def install_patches():
    arroba.server.storage = S.storage
    arroba.server.authenticate = authenticate
    arroba.server.authorize = authorize
    arroba.did.resolve = resolve_did
    for nsid, fn in {
        'com.atproto.repo.createRecord': create_record,
        'com.atproto.repo.putRecord': put_record,
        'com.atproto.repo.deleteRecord': delete_record,
        'com.atproto.repo.applyWrites': apply_writes,
        'com.atproto.server.createSession': create_session,
        'com.atproto.server.refreshSession': refresh_session,
        'com.atproto.server.deleteSession': delete_session,
        'com.atproto.server.getSession': get_session,
        'com.atproto.server.describeServer': describe_server,
        'com.atproto.identity.resolveHandle': resolve_handle,
        'app.bsky.actor.getProfile': get_profile,
        'app.bsky.actor.getProfiles': get_profiles,
        'chat.bsky.convo.getConvoForMembers': get_convo_for_members,
        'chat.bsky.convo.sendMessage': send_message,
    }.items():
        xrpc.register(nsid, fn, override=True)

    patch_string_refs()

    # MemoryStorage is not thread-safe: run every XRPC handler under the lock.
    # (Stalls happen in the before_request gate, outside it.)
    unlocked_call = xrpc.call

    def call(*args, **kwargs):
        with LOCK:
            return unlocked_call(*args, **kwargs)
    xrpc.call = call


# ---------------------------------------------------------------- request gate

def write_cost(nsid):
    if nsid not in WRITE_NSIDS:
        return 0
    if WRITE_NSIDS[nsid]:
        return POINTS[WRITE_NSIDS[nsid]]
    try:
        writes = json.loads(flask.request.get_data() or b'{}').get('writes') or []
        return sum(POINTS.get(str(w.get('$type', '')).rpartition('#')[2], 0)
                   for w in writes)
    except (ValueError, AttributeError):
        return 0  # lexrpc refuses the malformed body


def fault_response(fault):
    if fault['kind'] == 'rate_limit':
        headers = S.rate_headers(0, time.time() + fault.get('reset_in', 1))
        return error_response(429, 'RateLimitExceeded', 'Rate Limit Exceeded', headers)
    status = fault['status']
    return error_response(status, fault.get('error') or default_error_name(status),
                          fault.get('message') or 'Injected fault')


def gate():
    """before_request: log, faults and chaos, proxy header, auth, write points."""
    request = flask.request
    if not request.path.startswith('/xrpc/') or request.method == 'OPTIONS':
        return None
    nsid = request.path[len('/xrpc/'):]
    entry = flask.g.entry = {'method': request.method, 'nsid': nsid, 'status': None,
                             'time': time.time(), 'fault': None}

    # 1. Faults, decided before anything else runs, so a faulted write is not applied.
    with LOCK:
        chaos = S.chaos_draw(nsid)
        stall = S.take_fault('stall', nsid)
        answer = None
        for kind in ('status', 'rate_limit'):
            if not answer and (fault := S.take_fault(kind, nsid)):
                answer = dict(fault, kind=kind)
        lost = None if answer else S.take_fault('lost_response', nsid)
        if not (stall or answer or lost) and chaos:
            if chaos['kind'] == 'stall':
                stall = chaos
            elif chaos['kind'] == 'lost_response':
                lost = chaos
            else:
                answer = chaos
            entry['chaos'] = True
    if stall:
        entry['fault'] = 'stall'
        with LOCK:
            S.note_injected('stall')
        time.sleep(stall.get('seconds', 10))
    if answer:
        entry['fault'] = answer['kind']
        with LOCK:
            S.note_injected(answer['kind'])
        return fault_response(answer)
    if lost:
        flask.g.lost = lost

    # 2. Chat goes through the proxy header, as a PDS routes it.
    if nsid.startswith('chat.bsky.') and request.headers.get('atproto-proxy') != CHAT_PROXY:
        return error_response(400, 'InvalidRequest',
                              f'chat.bsky.* needs the header atproto-proxy: {CHAT_PROXY}')

    # 3. Auth, before lexicon validation, as the reference PDS does.
    header = request.headers.get('Authorization')
    with LOCK:
        try:
            if nsid in REFRESH_AUTH:
                claims = S.verify(header, REFRESH_SCOPE)
                flask.g.refresh_jti = claims['jti']
            elif nsid in ACCESS_AUTH or (nsid in OPTIONAL_AUTH and header):
                claims = S.verify(header, ACCESS_SCOPE)
            else:
                return None
        except XrpcError as e:
            return error_response(e.status, e.name, e.message)
        flask.g.did = entry['did'] = claims['sub']

        # 4. Write points for the token's DID.
        if cost := write_cost(nsid):
            admitted, headers = S.charge(flask.g.did, nsid, cost)
            if not admitted:
                return error_response(429, 'RateLimitExceeded', 'Rate Limit Exceeded',
                                      headers)
            flask.g.rate_headers = headers
    return None


def finish(response):
    """after_request: rate headers, the lost-response fault, the log."""
    entry = flask.g.get('entry')
    if entry is None:
        return response
    with LOCK:
        ok = 200 <= response.status_code < 300
        if ok and entry['nsid'] == 'com.atproto.repo.createRecord':
            S.stats['created'] += 1
        elif ok and entry['nsid'] == 'com.atproto.repo.applyWrites':
            body = json.loads(flask.request.get_data() or b'{}')
            S.stats['created'] += sum(str(w.get('$type', '')).endswith('#create')
                                      for w in body.get('writes') or [])
        if ok and response.get_data() == b'""':
            # lexrpc encodes an empty output ({} or None) as the JSON string "".
            response.set_data(b'{}')
        if headers := flask.g.get('rate_headers'):
            response.headers.update(headers)
        if (lost := flask.g.get('lost')) and ok:
            # The write happened; the client never hears about it.
            entry['fault'] = 'lost_response'
            S.note_injected('lost_response')
            S.stats['lost_responses'] += 1
            response = error_response(lost.get('status', 502), 'UpstreamFailure',
                                      'Injected fault after the write was applied')
        entry['status'] = response.status_code
        S.log.append(entry)
        S.stats['requests'] += 1
    return response


# ---------------------------------------------------------------- control routes

def dag_json_response(obj, status=200):
    return flask.Response(dag_json.encode(obj, dialect='atproto'), status=status,
                          mimetype='application/json')


def add_control_routes(app):
    bp = flask.Blueprint('control', __name__, url_prefix='/_control')

    @bp.post('/faults')
    def faults():
        body = flask.request.get_json(force=True, silent=True)
        if not isinstance(body, dict):
            return error_response(400, 'InvalidRequest', 'JSON object expected')
        known = {'status', 'count', 'error', 'message', 'nsid', 'rate_limit', 'stall',
                 'lost_response', 'expire_tokens', 'revoke_refresh', 'chaos'}
        if unknown := set(body) - known:
            return error_response(400, 'InvalidRequest', f'Unknown keys {sorted(unknown)}')
        with LOCK:
            if 'status' in body:
                S.faults['status'].append({
                    'status': int(body['status']), 'count': int(body.get('count', 1)),
                    'error': body.get('error'), 'message': body.get('message'),
                    'nsid': body.get('nsid')})
            for kind in ('rate_limit', 'stall', 'lost_response'):
                if kind in body:
                    spec = dict(body[kind] or {})
                    spec['count'] = int(spec.get('count', 1))
                    S.faults[kind].append(spec)
            if body.get('expire_tokens'):
                S.expire_access_tokens()
            if body.get('revoke_refresh'):
                S.live_refresh.clear()
            if 'chaos' in body:
                seed = body['chaos']
                S.chaos = random.Random(seed) if seed is not None else None
            return flask.jsonify(pending=S.faults, chaos=S.chaos is not None)

    @bp.get('/faults')
    def pending_faults():
        with LOCK:
            return flask.jsonify(pending=S.faults, chaos=S.chaos is not None)

    @bp.post('/reset')
    def reset():
        with LOCK:
            for queue in S.faults.values():
                queue.clear()
            return flask.jsonify(pending=S.faults, chaos=S.chaos is not None)

    @bp.post('/unverified')
    def unverified():
        """{"did": DID}: the AppView reports this account's handle as handle.invalid."""
        body = flask.request.get_json(force=True, silent=True) or {}
        with LOCK:
            S.unverified.add(str(body.get('did', '')))
            return flask.jsonify(sorted(S.unverified))

    @bp.get('/log')
    def request_log():
        with LOCK:
            return flask.jsonify(list(S.log))

    @bp.get('/stats')
    def stats():
        with LOCK:
            return flask.jsonify(dict(S.stats, overrun_log=S.overruns))

    @bp.get('/records')
    def records():
        did = flask.request.args.get('did')
        collection = flask.request.args.get('collection')
        if not did or not collection:
            return error_response(400, 'InvalidRequest', 'did and collection required')
        with LOCK:
            repo = S.storage.load_repo(did)
            if not repo:
                return error_response(404, 'RepoNotFound', f'No repo {did}')
            out = [{'uri': arroba.util.at_uri(repo.did, collection, rkey),
                    'cid': arroba.util.dag_cbor_cid(value).encode('base32'),
                    'value': value}
                   for rkey, value in sorted(repo.get_contents()
                                             .get(collection, {}).items())]
            return dag_json_response(out)

    @bp.get('/messages')
    def messages():
        with LOCK:
            return flask.jsonify(list(S.messages))

    app.register_blueprint(bp)


# ---------------------------------------------------------------- main

def create_app():
    app = flask.Flask('xrpc-peer')
    app.before_request(gate)
    app.after_request(finish)
    add_control_routes(app)
    init_flask(xrpc, app)

    @app.errorhandler(Exception)
    def internal_error(e):
        if isinstance(e, HTTPException):
            return e
        log.exception('unhandled error')
        return error_response(500, 'InternalServerError', f'{type(e).__name__}: {e}')
    return app


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--port', type=int, default=0)
    p.add_argument('--account', action='append', metavar='HANDLE:PASSWORD',
                   help='repeatable; the first is the bot (default bot.test:bot-pass)')
    p.add_argument('--access-ttl', type=int, default=3600)
    p.add_argument('--refresh-ttl', type=int, default=86400)
    p.add_argument('--write-limit', type=int, default=5000)
    p.add_argument('--write-window', type=int, default=3600)
    p.add_argument('--chaos', type=int, metavar='SEED')
    p.add_argument('--verbose', action='store_true', help='INFO logs on stderr')
    args = p.parse_args(argv)
    accounts = []
    for spec in args.account or ['bot.test:bot-pass']:
        handle, sep, password = spec.partition(':')
        if not sep or not handle or not password:
            p.error(f'--account wants handle:password, got {spec!r}')
        accounts.append((handle.lower(), password))
    args.account = accounts
    return args


def main(argv=None):
    global S
    args = parse_args(argv)
    logging.basicConfig(stream=sys.stderr,
                        level=logging.INFO if args.verbose else logging.WARNING,
                        format='%(asctime)s %(name)s %(levelname)s %(message)s')
    if not args.verbose:
        for noisy in ('werkzeug', 'arroba', 'lexrpc'):
            logging.getLogger(noisy).setLevel(logging.WARNING)

    S = State(args)
    install_patches()
    for handle, password in args.account:
        did = f'did:web:{handle}'
        Repo.create(S.storage, did, handle=handle, signing_key=arroba.util.new_key())
        S.accounts[did] = {'did': did, 'handle': handle, 'password': password}
        print(f'ACCOUNT handle={handle} did={did}', flush=True)

    # (werkzeug answers `Connection: close` to every request, so connection reuse is
    # tested against a keep-alive server in XRPCClientTests instead.)
    server = make_server('127.0.0.1', args.port, create_app(), threaded=True)
    S.port = server.server_port

    def stop(signum, frame):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    print(f'READY port={S.port}', flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == '__main__':
    main()
