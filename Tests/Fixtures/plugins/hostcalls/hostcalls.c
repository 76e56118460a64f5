// A Wasm plugin for Osprey in C that uses the host functions (sdk/c/osprey.h): each tool calls one of them with
// its "target" (and "data") argument and answers {"code": <return>, "text": <answer or error message>}.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osprey.h"

static char input[1 << 16];
static char answer[1 << 20];

// The string value of "key" in the request (flat JSON written by the host), unescaped; "" when absent.
static void argument(const char *key, char *out, size_t cap) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    const char *p = strstr(input, pattern);
    size_t n = 0;
    if (p)
        for (p += strlen(pattern); *p && *p != '"' && n + 1 < cap; p++) {
            if (*p == '\\' && p[1]) p++;
            out[n++] = *p;
        }
    out[n] = 0;
}

static void reply(int code, const char *text, int length) {
    printf("{\"code\":%d,\"text\":\"", code);
    for (int i = 0; i < length; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c == '\n') printf("\\n");
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    printf("\"}");
}

// The answer to a call that returned `code`: what it wrote, or (too long, or an error) what osprey_result gives.
static void finish(int code, int cap) {
    if (code >= 0 && code <= cap) return reply(code, answer, code);
    int length = osprey_result(answer, sizeof answer);
    reply(code, answer, length < (int)sizeof answer ? length : (int)sizeof answer);
}

int main(void) {
    size_t length = fread(input, 1, sizeof input - 1, stdin);
    input[length] = 0;
    char tool[32], target[1024], data[4096];
    argument("tool", tool, sizeof tool);
    argument("target", target, sizeof target);
    argument("data", data, sizeof data);
    osprey_log(tool, strlen(tool));
    int code;
    if (!strcmp(tool, "read")) {
        finish(osprey_read_file(target, strlen(target), answer, sizeof answer), sizeof answer);
    } else if (!strcmp(tool, "read_small")) {  // a 16-byte buffer: the answer comes through osprey_result
        finish(osprey_read_file(target, strlen(target), answer, 16), 16);
    } else if (!strcmp(tool, "write")) {
        finish(osprey_write_file(target, strlen(target), data, strlen(data)), sizeof answer);
    } else if (!strcmp(tool, "fetch")) {
        char request[1200];
        snprintf(request, sizeof request, "{\"url\":\"%s\"}", target);
        finish(osprey_http_fetch(request, strlen(request), answer, sizeof answer), sizeof answer);
    } else if (!strcmp(tool, "secret")) {
        finish(osprey_secret(target, strlen(target), answer, sizeof answer), sizeof answer);
    } else if (!strcmp(tool, "count")) {  // a counter under the key "target" in the plugin's own store
        char value[32] = "0";
        code = osprey_kv_get(target, strlen(target), value, sizeof value - 1);
        if (code >= 0) value[code] = 0;
        else if (code != OSPREY_NOT_FOUND) return finish(code, 0), 0;
        snprintf(value, sizeof value, "%d", atoi(value) + 1);
        code = osprey_kv_set(target, strlen(target), value, strlen(value));
        if (code < 0) return finish(code, 0), 0;
        reply(code, value, strlen(value));
    } else {
        fprintf(stderr, "unknown tool %s\n", tool);
        return 2;
    }
    return 0;
}
