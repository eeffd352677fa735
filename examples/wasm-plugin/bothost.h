/*
 * bothost.h: the BotHost WebAssembly plugin ABI, version 1 (docs/plugins-wasm.md).
 *
 * A plugin is a wasm32 module that imports only the functions below (module "bothost")
 * and exports `memory`, `bothost_abi_version`, `bothost_init` and `bothost_on_event`.
 * Nothing else is granted: no WASI, no files, no network, no clock but the event's time.
 *
 * Values of the event (the record and its fields) are handles: small integers valid for
 * the current call only. A missing field is the handle -1, and every reader accepts -1,
 * so a chain of lookups needs no checks in between. The record is never re-encoded:
 * handles point into the host's parsed copy of the event.
 *
 * Effects (grants, revocations, counters, state writes, log lines) are kept by the host
 * until bothost_on_event returns 0; a call that traps, runs out of fuel, grows memory past
 * its limit or returns non-zero loses all of them.
 */
#ifndef BOTHOST_H
#define BOTHOST_H

#include <stdint.h>

#define BOTHOST_ABI_VERSION 1

#define BH_IMPORT(name) __attribute__((import_module("bothost"), import_name(#name)))
#define BH_EXPORT(name) __attribute__((export_name(#name)))

/* Operations passed to bothost_on_event. */
enum { BH_CREATE = 0, BH_UPDATE = 1, BH_DELETE = 2 };

/* Kinds returned by bh_kind. */
enum { BH_MISSING = 0, BH_OBJECT = 1, BH_ARRAY = 2, BH_STRING = 3, BH_INTEGER = 4,
       BH_NUMBER = 5, BH_TRUE = 6, BH_FALSE = 7, BH_NULL = 8 };

/* ---- only during bothost_init ---------------------------------------------------- */
/* Reads commits of this collection NSID (or a prefix ending in ".*"). */
BH_IMPORT(want) void bh_want(const char *nsid, int32_t len);
/* Declares a rule (recorded with every ledger entry it makes); returns its id. */
BH_IMPORT(rule) int32_t bh_rule(const char *name, int32_t len);
/* Declares a counter (per account and UTC day, like a pack's `counter:`); returns its id. */
BH_IMPORT(counter) int32_t bh_counter(const char *name, int32_t len);
/* Declares a key (an object member name or a string to compare with); returns its id. */
BH_IMPORT(key) int32_t bh_key(const char *text, int32_t len);

/* ---- the event -------------------------------------------------------------------- */
/* The record of a create or update (-1 for a delete). */
BH_IMPORT(record) int32_t bh_record(void);
/* The member `key` of an object, or -1. */
BH_IMPORT(get) int32_t bh_get(int32_t value, int32_t key);
/* Element `index` of an array, or -1. */
BH_IMPORT(at) int32_t bh_at(int32_t value, int32_t index);
/* Elements of an array or members of an object; 0 otherwise. */
BH_IMPORT(len) int32_t bh_len(int32_t value);
/* One of the BH_* kinds. */
BH_IMPORT(kind) int32_t bh_kind(int32_t value);
/* 1 when the value is a string equal to the declared key's text. */
BH_IMPORT(equals) int32_t bh_equals(int32_t value, int32_t key);
/* 1 when the value is a string with a character that is not Unicode white space. */
BH_IMPORT(nonblank) int32_t bh_nonblank(int32_t value);
/* An integer value, or `otherwise` for anything else. */
BH_IMPORT(int) int64_t bh_int(int32_t value, int64_t otherwise);
/* Copies a string value (unescaped UTF-8) into buf; returns its whole length, or -1
   when the value is not a string. Copies at most cap bytes. */
BH_IMPORT(string) int32_t bh_string(int32_t value, char *buf, int32_t cap);
/* The event's envelope, copied like bh_string: the author's DID, the collection, the record key. */
BH_IMPORT(did) int32_t bh_did(char *buf, int32_t cap);
BH_IMPORT(collection) int32_t bh_collection(char *buf, int32_t cap);
BH_IMPORT(rkey) int32_t bh_rkey(char *buf, int32_t cap);
/* The event's time, microseconds since the epoch (the only clock a plugin has). */
BH_IMPORT(time_us) int64_t bh_time_us(void);

/* ---- effects ---------------------------------------------------------------------- */
/* Grants amount XP for this record under a declared rule: a create of a record that
   already has a live grant changes nothing, an update re-grades the live grant. */
BH_IMPORT(grant) void bh_grant(int32_t rule, int32_t amount);
/* Revokes this record's live grant (the host already does so on a delete). */
BH_IMPORT(revoke) void bh_revoke(int32_t rule);
/* The amount of this record's live grant, or -1 when it has none. */
BH_IMPORT(current_grant) int32_t bh_current_grant(void);
/* The live grant of the record an at:// URI string value names, or -1. */
BH_IMPORT(grant_of) int32_t bh_grant_of(int32_t uri_value);
/* 1 when an at:// URI string value names a record of this event's author. */
BH_IMPORT(is_self) int32_t bh_is_self(int32_t uri_value);
/* Adds 1 to a declared counter for this account and the event's UTC day. */
BH_IMPORT(count) void bh_count(int32_t counter);
/* The plugin's own numbers, per account: read (`otherwise` when unset) and write. */
BH_IMPORT(state_get) int64_t bh_state_get(int64_t key, int64_t otherwise);
BH_IMPORT(state_set) void bh_state_set(int64_t key, int64_t value);
/* A log line (at most 200 bytes are kept; at most 10 lines per batch). */
BH_IMPORT(log) void bh_log(const char *text, int32_t len);

/* Small helpers. */
static inline int32_t bh_strlen(const char *s) { int32_t n = 0; while (s[n]) n++; return n; }
#define BH_KEY(s) bh_key((s), (int32_t)(sizeof(s) - 1))

#endif
