/* unixcat SOCKET: stdin to the unix socket SOCKET, then the socket's answer to stdout until the
 * peer closes. The test reaper's HTTP client (busybox's nc has no unix sockets). The write side
 * is not shut down: an HTTP/1.0 server answers and closes; a half-close could end the request. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int write_all(int fd, const char *buf, ssize_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, (size_t)len);
        if (n < 0)
            return -1;
        buf += n;
        len -= n;
    }
    return 0;
}

int main(int argc, char **argv) {
    struct sockaddr_un addr;
    char buf[65536];
    ssize_t n;
    int fd;

    if (argc != 2 || strlen(argv[1]) >= sizeof(addr.sun_path)) {
        fprintf(stderr, "usage: unixcat SOCKET\n");
        return 2;
    }
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, argv[1]);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        perror("unixcat: connect");
        return 1;
    }
    while ((n = read(0, buf, sizeof(buf))) > 0)
        if (write_all(fd, buf, n) < 0) {
            perror("unixcat: write");
            return 1;
        }
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        if (write_all(1, buf, n) < 0)
            return 1;
    return n < 0 ? 1 : 0;
}
