/*
 * post_xp: the leveling pack's `post` rule (examples/packs/leveling.yaml) as a WebAssembly
 * plugin. 50 XP per post, 60 with media not all described, 70 when every item is
 * described; an update re-grades, a delete revokes (the host does that).
 *
 * Built by `make -C examples/wasm-plugin` with the toolchain's clang and wasm-ld.
 */
#include "bothost.h"

static int32_t RULE_POST;
static int32_t K_EMBED, K_TYPE, K_IMAGES, K_ITEMS, K_ALT, K_MEDIA;
static int32_t T_IMAGES, T_VIDEO, T_GALLERY, T_RECORD_WITH_MEDIA;

BH_EXPORT(bothost_abi_version) int32_t abi_version(void) { return BOTHOST_ABI_VERSION; }

BH_EXPORT(bothost_init) int32_t init(void) {
    static const char post[] = "app.bsky.feed.post";
    bh_want(post, sizeof(post) - 1);
    RULE_POST = bh_rule("post", 4);
    K_EMBED = BH_KEY("embed");
    K_TYPE = BH_KEY("$type");
    K_IMAGES = BH_KEY("images");
    K_ITEMS = BH_KEY("items");
    K_ALT = BH_KEY("alt");
    K_MEDIA = BH_KEY("media");
    T_IMAGES = BH_KEY("app.bsky.embed.images");
    T_VIDEO = BH_KEY("app.bsky.embed.video");
    T_GALLERY = BH_KEY("app.bsky.embed.gallery");
    T_RECORD_WITH_MEDIA = BH_KEY("app.bsky.embed.recordWithMedia");
    return 0;
}

/* 70 when every element's alt is non-blank, else 60; -1 when the list is empty or not a list. */
static int32_t described(int32_t list) {
    if (bh_kind(list) != BH_ARRAY) return -1;
    int32_t n = bh_len(list);
    if (n == 0) return -1;
    for (int32_t i = 0; i < n; i++) {
        if (!bh_nonblank(bh_get(bh_at(list, i), K_ALT))) return 60;
    }
    return 70;
}

/* The class of one media embed (images, video or gallery); -1 when it is none of them. */
static int32_t media_xp(int32_t media) {
    int32_t type = bh_get(media, K_TYPE);
    if (bh_equals(type, T_IMAGES)) return described(bh_get(media, K_IMAGES));
    if (bh_equals(type, T_VIDEO)) return bh_nonblank(bh_get(media, K_ALT)) ? 70 : 60;
    if (bh_equals(type, T_GALLERY)) return described(bh_get(media, K_ITEMS));
    return -1;
}

BH_EXPORT(bothost_on_event) int32_t on_event(int32_t op) {
    if (op == BH_DELETE) return 0; /* the host revoked the record's grant */
    int32_t embed = bh_get(bh_record(), K_EMBED);
    int32_t xp = media_xp(embed);
    if (xp < 0 && bh_equals(bh_get(embed, K_TYPE), T_RECORD_WITH_MEDIA)) {
        xp = media_xp(bh_get(embed, K_MEDIA));
    }
    bh_grant(RULE_POST, xp < 0 ? 50 : xp);
    return 0;
}
