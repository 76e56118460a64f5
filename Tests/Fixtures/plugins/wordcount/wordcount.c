// A Wasm plugin for Osprey in C (WASI preview 1, command ABI): the call arrives as JSON on stdin,
// {"tool":"count","arguments":{"text":"..."}}, and the answer goes to stdout as JSON.
//
// Build: clang --target=wasm32-wasi --sysroot=/usr -isystem /usr/include/wasm32-wasi -L/usr/lib/wasm32-wasi \
//            -O2 -nodefaultlibs -o wordcount.wasm wordcount.c -lc <libclang_rt.builtins-wasm32.a>
#include <stdio.h>
#include <string.h>

static char input[1 << 20];

int main(void) {
    size_t length = fread(input, 1, sizeof input - 1, stdin);
    input[length] = 0;
    const char *text = strstr(input, "\"text\":\"");
    if (!text) {
        fprintf(stderr, "no text argument\n");
        return 2;
    }
    text += strlen("\"text\":\"");
    long words = 0, lines = 0, characters = 0;
    int inWord = 0;
    for (const char *p = text; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1]) {  // an escape: \n is a line break, anything else one character
            p++;
            if (*p == 'n') { lines++; inWord = 0; characters++; continue; }
        }
        characters++;
        int space = *p == ' ' || *p == '\t';
        if (!space && !inWord) words++;
        inWord = !space;
    }
    printf("{\"words\":%ld,\"lines\":%ld,\"characters\":%ld}", words, characters ? lines + 1 : 0, characters);
    return 0;
}
