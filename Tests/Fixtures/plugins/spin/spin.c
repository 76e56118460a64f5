// A plugin that never answers: it counts forever, until its fuel runs out.
int main(void) {
    volatile unsigned long count = 0;
    for (;;) count++;
}
