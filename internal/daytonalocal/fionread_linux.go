package daytonalocal

import "golang.org/x/sys/unix"

// fionread asks how many bytes a pipe holds unread (FIONREAD).
const fionread = unix.TIOCINQ
