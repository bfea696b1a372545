//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package daytonalocal

// fionread asks how many bytes a pipe holds unread: FIONREAD of
// <sys/filio.h>, _IOR('f', 127, int), which x/sys/unix does not name here.
const fionread = 0x4004667f
