"""The init process of a run's container: a static program of 196 bytes of x86-64 code.

A run's commands are executed one after another in one container (`podium_worker.engine`),
each as an exec into it, so the container needs a main process that stays alive between them,
and the image cannot be relied on for one: a minimal image has no shell, no ``sleep``, not even
a libc. So the worker copies this program into the container before starting it and makes it
the entrypoint. What it does, as the container's pid 1:

- it reaps whatever the commands leave orphaned (``wait4(-1)`` in a loop, ``pause()`` while it
  has no child), so that no zombie piles up;
- on SIGTERM (the engine's stop) it sends SIGTERM to every other process of the container
  (``kill(-1, SIGTERM)``), then exits as soon as none is left (``kill(-1, 0)`` every 20 ms),
  so the container stops as soon as the command did; a command still there when the grace is
  over gets the engine's SIGKILL. A pid 1 without a handler would never pass SIGTERM on (the
  kernel drops the signals a namespace's init does not handle) and would hold every stop for
  the whole grace.

The machine code is below with its assembly (GNU as, Intel syntax); `program` wraps it in a
64-bit ELF header with a single loadable segment. It is position independent: the signal
action is built on the stack from RIP-relative addresses.
"""

from __future__ import annotations

import struct

MACHINE = "x86_64"
"""The only architecture of the program; the worker refuses --containers on an engine of another."""

CODE = bytes.fromhex(
    # _start: install the SIGTERM handler (struct kernel_sigaction built on the stack)
    "4883ec20"  # sub rsp, 32
    "488d055d000000"  # lea rax, [rip+handler]
    "48890424"  # mov [rsp], rax                       ; sa_handler
    "48c744240800000004"  # mov qword [rsp+8], 0x04000000  ; sa_flags: SA_RESTORER
    "488d059e000000"  # lea rax, [rip+restorer]
    "4889442410"  # mov [rsp+16], rax                  ; sa_restorer
    "48c744241800000000"  # mov qword [rsp+24], 0      ; sa_mask: none
    "bf0f000000"  # mov edi, 15                        ; SIGTERM
    "4889e6"  # mov rsi, rsp
    "31d2"  # xor edx, edx                             ; no old action wanted
    "41ba08000000"  # mov r10d, 8                      ; sizeof(sigset_t)
    "b80d000000"  # mov eax, 13                        ; rt_sigaction
    "0f05"  # syscall
    # again: reap any child; pause while there is none
    "48c7c7ffffffff"  # mov rdi, -1
    "31f6"  # xor esi, esi
    "31d2"  # xor edx, edx
    "4531d2"  # xor r10d, r10d
    "b83d000000"  # mov eax, 61                        ; wait4(-1, NULL, 0, NULL)
    "0f05"  # syscall
    "4883f8f6"  # cmp rax, -10                         ; -ECHILD?
    "75e5"  # jne again                                ; reaped one, or interrupted
    "b822000000"  # mov eax, 34                        ; pause
    "0f05"  # syscall
    "ebdc"  # jmp again
    # handler: SIGTERM to every other process, then exit once none is left
    "48c7c7ffffffff"  # mov rdi, -1
    "be0f000000"  # mov esi, 15
    "b83e000000"  # mov eax, 62                        ; kill(-1, SIGTERM)
    "0f05"  # syscall
    "4883ec10"  # sub rsp, 16                          ; struct timespec {0 s, 20 ms}
    "48c7042400000000"  # mov qword [rsp], 0
    "48c7442408002d3101"  # mov qword [rsp+8], 20000000
    # gone:
    "48c7c7ffffffff"  # mov rdi, -1
    "31f6"  # xor esi, esi
    "b83e000000"  # mov eax, 62                        ; kill(-1, 0): anyone left?
    "0f05"  # syscall
    "4883f8fd"  # cmp rax, -3                          ; -ESRCH: nobody
    "740e"  # je done
    "4889e7"  # mov rdi, rsp
    "31f6"  # xor esi, esi
    "b823000000"  # mov eax, 35                        ; nanosleep(20 ms)
    "0f05"  # syscall
    "ebdc"  # jmp gone
    # done:
    "31ff"  # xor edi, edi
    "b8e7000000"  # mov eax, 231                       ; exit_group(0)
    "0f05"  # syscall
    # restorer (the handler never returns; the kernel wants one with SA_RESTORER)
    "b80f000000"  # mov eax, 15                        ; rt_sigreturn
    "0f05"  # syscall
)
assert len(CODE) == 196

BASE = 0x400000
"""Where the segment is loaded (the classic base of a static executable)."""
HEADERS = 64 + 56
"""An ELF64 header and one program header: the code follows at this offset."""


def program() -> bytes:
    """The whole executable: ELF header, program header, code."""
    size = HEADERS + len(CODE)
    elf_header = struct.pack(
        "<4sBBBBB7sHHIQQQIHHHHHH",
        b"\x7fELF",
        2,  # 64-bit
        1,  # little endian
        1,  # ELF version
        0,  # System V ABI
        0,
        b"\0" * 7,
        2,  # ET_EXEC
        0x3E,  # x86-64
        1,  # version
        BASE + HEADERS,  # entry point: the first instruction
        64,  # program headers right after this header
        0,  # no section headers
        0,
        64,  # this header's size
        56,  # one program header's size
        1,  # one program header
        64,
        0,
        0,
    )
    load = struct.pack(
        "<IIQQQQQQ",
        1,  # PT_LOAD
        5,  # read and execute
        0,  # the whole file ...
        BASE,  # ... mapped at BASE
        BASE,
        size,
        size,
        0x1000,
    )
    return elf_header + load + CODE
