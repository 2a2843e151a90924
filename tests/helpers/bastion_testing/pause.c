/* The pod sandbox's init for bastion's CRI tests: there is no registry here to pull
 * Kubernetes' pause image from, so the suite builds its own (bastion_testing/cri.py).
 *
 * It holds the pod's namespaces, reaps the orphans a shared pid namespace hands to it, and
 * exits 0 on SIGINT or SIGTERM (a pid 1 gets no default action for them, so it must ask). */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void leave(int sig) {
    (void)sig;
    _exit(0);
}

static void reap(int sig) {
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

int main(void) {
    struct sigaction quit = {.sa_handler = leave};
    struct sigaction child = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP | SA_RESTART};
    sigaction(SIGINT, &quit, NULL);
    sigaction(SIGTERM, &quit, NULL);
    sigaction(SIGCHLD, &child, NULL);
    for (;;) {
        pause();
    }
}
