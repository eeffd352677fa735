// A small C face for libcurl: Swift cannot call the variadic curl_easy_setopt, and
// collecting a response into growable buffers is simpler and faster in C than through
// Swift callbacks. Everything here is static inline, so the module needs no C target.
#ifndef BOTHOST_CCURL_SHIM_H
#define BOTHOST_CCURL_SHIM_H

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

/// A growable byte buffer a transfer appends to; `bh_buffer_free` releases it.
typedef struct {
    char *data;
    size_t length;
    size_t capacity;
    size_t limit;  // the most bytes kept; a transfer writing more fails (a hostile server)
} bh_buffer;

static inline size_t bh_buffer_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
    bh_buffer *buffer = (bh_buffer *)userdata;
    size_t count = size * nmemb;
    if (buffer->limit && buffer->length + count > buffer->limit) return 0;  // aborts the transfer
    if (buffer->length + count > buffer->capacity) {
        size_t capacity = buffer->capacity ? buffer->capacity : 4096;
        while (capacity < buffer->length + count) capacity *= 2;
        char *data = (char *)realloc(buffer->data, capacity);
        if (!data) return 0;
        buffer->data = data;
        buffer->capacity = capacity;
    }
    memcpy(buffer->data + buffer->length, ptr, count);
    buffer->length += count;
    return count;
}

static inline void bh_buffer_reset(bh_buffer *buffer) { buffer->length = 0; }

static inline void bh_buffer_free(bh_buffer *buffer) {
    free(buffer->data);
    buffer->data = NULL;
    buffer->length = buffer->capacity = 0;
}

/// Options that stay the same for every request of a handle: verified TLS, no
/// signals (the host is multi-threaded), keep-alive, and the response sinks.
static inline CURLcode bh_configure(CURL *curl, bh_buffer *body, bh_buffer *headers, char *errorBuffer,
                                    const char *userAgent) {
    CURLcode code = CURLE_OK;
    if ((code = curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L))) return code;
    if ((code = curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L))) return code;
    if ((code = curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L))) return code;
    if ((code = curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L))) return code;
    if ((code = curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L))) return code;
    if ((code = curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https"))) return code;
    if ((code = curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, ""))) return code;
    if ((code = curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, bh_buffer_write))) return code;
    if ((code = curl_easy_setopt(curl, CURLOPT_WRITEDATA, body))) return code;
    if ((code = curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, bh_buffer_write))) return code;
    if ((code = curl_easy_setopt(curl, CURLOPT_HEADERDATA, headers))) return code;
    if ((code = curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errorBuffer))) return code;
    if ((code = curl_easy_setopt(curl, CURLOPT_USERAGENT, userAgent))) return code;
    return code;
}

/// Performs one request on a configured handle. `body` may be NULL for GET; the
/// method is "GET" or "POST". Timeouts are in milliseconds.
static inline CURLcode bh_perform(CURL *curl, const char *method, const char *url, struct curl_slist *headers,
                                  const char *body, size_t bodyLength, long connectTimeoutMS, long timeoutMS,
                                  long *status) {
    CURLcode code = CURLE_OK;
    *status = 0;
    if ((code = curl_easy_setopt(curl, CURLOPT_URL, url))) return code;
    if ((code = curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers))) return code;
    if ((code = curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, connectTimeoutMS))) return code;
    if ((code = curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeoutMS))) return code;
    if (strcmp(method, "POST") == 0) {
        if ((code = curl_easy_setopt(curl, CURLOPT_POST, 1L))) return code;
        if ((code = curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)bodyLength))) return code;
        if ((code = curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body ? body : ""))) return code;
    } else {
        if ((code = curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L))) return code;
    }
    code = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    return code;
}

/// How many connections the handle opened so far (connection reuse shows as 1).
static inline long bh_connects(CURL *curl) {
    long count = 0;
    curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &count);
    return count;
}

#endif
