/*
 * hostile: a plugin that misbehaves on purpose, to show the host contains it. For each
 * post it grants 1 XP and then, by the first word of the post's text:
 *   "loop"  spins forever            (runs out of fuel)
 *   "grab"  grows memory until refused, then writes past it (memory limit, then a trap)
 *   "oob"   reads far outside its memory (trap: out of bounds)
 *   "trap"  executes `unreachable`
 *   "fail"  returns an error code
 * Any other post keeps its 1 XP. Every misbehaving event must lose its grant, and the
 * host must go on (docs/plugins-wasm.md).
 */
#include "bothost.h"

static int32_t RULE_ANY, K_TEXT;
static char word[8];

BH_EXPORT(bothost_abi_version) int32_t abi_version(void) { return BOTHOST_ABI_VERSION; }

BH_EXPORT(bothost_init) int32_t init(void) {
    static const char post[] = "app.bsky.feed.post";
    bh_want(post, sizeof(post) - 1);
    RULE_ANY = bh_rule("any-post", 8);
    K_TEXT = BH_KEY("text");
    return 0;
}

static int starts(const char *w) {
    int i = 0;
    for (; w[i]; i++) if (word[i] != w[i]) return 0;
    return word[i] == ' ' || word[i] == 0;
}

BH_EXPORT(bothost_on_event) int32_t on_event(int32_t op) {
    if (op == BH_DELETE) return 0;
    bh_grant(RULE_ANY, 1);
    for (int i = 0; i < 8; i++) word[i] = 0;
    bh_string(bh_get(bh_record(), K_TEXT), word, 7);
    if (starts("loop")) {
        volatile int32_t spin = 1;
        while (spin) { spin++; if (spin == 0) spin = 1; }
    }
    if (starts("grab")) {
        while (__builtin_wasm_memory_grow(0, 16) != (unsigned long)-1) {}
        volatile char *past = (volatile char *)(__builtin_wasm_memory_size(0) * 65536ul + 16);
        *past = 1;
    }
    if (starts("oob")) {
        volatile int32_t *far = (volatile int32_t *)0xFFFFFFF0u;
        return *far;
    }
    if (starts("trap")) __builtin_trap();
    if (starts("fail")) return 7;
    return 0;
}
