/* Osprey's host functions for Wasm plugins written in C (wasm32-wasi). Include this header and call them; the
 * gateway checks every call against the capabilities in your plugin.toml and denies anything else.
 *
 * Each function returns the answer's full length when it is >= 0 and writes the answer into buf when it fits in
 * cap bytes; when it did not fit, osprey_result() copies it into a larger buffer. A negative return is an error
 * (OSPREY_DENIED, OSPREY_NOT_FOUND, OSPREY_FAILED, OSPREY_INVALID) and osprey_result() then gives its message.
 */
#ifndef OSPREY_H
#define OSPREY_H

#include <stdint.h>

#define OSPREY_DENIED (-1)
#define OSPREY_NOT_FOUND (-2)
#define OSPREY_FAILED (-3)
#define OSPREY_INVALID (-4)

#define OSPREY_IMPORT(name) __attribute__((import_module("osprey"), import_name(#name)))

/* A line in the gateway's log, under the plugin's name. */
OSPREY_IMPORT(log) void osprey_log(const char *text, int32_t length);
/* A workspace file the manifest's capabilities.read grants (a relative path). */
OSPREY_IMPORT(read_file) int32_t osprey_read_file(const char *path, int32_t path_length, char *buf, int32_t cap);
/* Writes (replaces) a workspace file capabilities.write grants; 0 on success. */
OSPREY_IMPORT(write_file) int32_t osprey_write_file(const char *path, int32_t path_length, const char *data,
                                                     int32_t data_length);
/* request: JSON {"url": "...", "method": "GET"|"POST", "headers": {...}, "body": "..."} to a host in
 * capabilities.hosts (and on the agent's egress allowlist); answer: JSON {"status", "url", "content_type", "body"}. */
OSPREY_IMPORT(http_fetch) int32_t osprey_http_fetch(const char *request, int32_t request_length, char *buf,
                                                     int32_t cap);
/* The plugin's own store, for keys under a capabilities.kv prefix; an empty value deletes the key. */
OSPREY_IMPORT(kv_get) int32_t osprey_kv_get(const char *key, int32_t key_length, char *buf, int32_t cap);
OSPREY_IMPORT(kv_set) int32_t osprey_kv_set(const char *key, int32_t key_length, const char *value,
                                             int32_t value_length);
/* A secret capabilities.secrets names; it is redacted from whatever the plugin answers. */
OSPREY_IMPORT(secret) int32_t osprey_secret(const char *name, int32_t name_length, char *buf, int32_t cap);
/* The last answer or error message, again (into a buffer large enough this time). */
OSPREY_IMPORT(result) int32_t osprey_result(char *buf, int32_t cap);

#endif
