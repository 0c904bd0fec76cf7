#!/usr/bin/python3
# The independent SMB client of tests/smb_serve.rs: impacket opens \\127.0.0.1\IPC$\PIPE on a
# private smbd and runs a script of operations, printing one JSON result per operation.
#
#   impacket_client.py < '{"port": P, "user": U, "password": W, "pipe": NAME, "ops": [...]}'
# (the script comes on stdin: a 64 KiB message in hex is too long for an argument)
#
# One output line per result, "key=value" pairs separated by spaces ("-" for none).
# ops: ["write", HEX] -> {"n": written} | ["read", N] -> {"data": HEX}
#      ["transact", HEX, MAX_OUT] -> {"data": HEX, "overflow": bool}
#      ["readn", N] -> {"data": HEX} (reads until N bytes came)
#      ["close"] | ["sleep", MS] | ["parallel", N] (N connections at once, each transacts
#      "p<i>" and expects "echo:p<i>"; -> {"ok": count})
# A failed operation gives {"status": "0x...", "error": text} and the script goes on.
# A failed open gives {"open_status": ...} and ends the script.
import json
import sys
import threading
import time

from impacket.smbconnection import SMBConnection
from impacket.smb3structs import FSCTL_PIPE_TRANSCEIVE, SMB2_0_IOCTL_IS_FSCTL

STATUS_BUFFER_OVERFLOW = 0x80000005


def code_of(e):
    # impacket.smb3 and impacket.smbconnection each have a SessionError of their own.
    if hasattr(e, "getErrorCode"):
        return e.getErrorCode() & 0xFFFFFFFF
    if hasattr(e, "get_error_code"):
        return e.get_error_code() & 0xFFFFFFFF
    return None


def status_of(e):
    c = code_of(e)
    return "exception" if c is None else "0x%08X" % c


def connect(cfg):
    c = SMBConnection("127.0.0.1", "127.0.0.1", sess_port=cfg["port"], timeout=30)
    c.login(cfg.get("user", ""), cfg.get("password", ""))
    tid = c.connectTree("IPC$")
    fid = c.openFile(tid, "\\" + cfg["pipe"])
    return c, tid, fid


def transact(c, tid, fid, data, max_out):
    smb3 = c._SMBConnection
    try:
        out = smb3.ioctl(tid, fid, FSCTL_PIPE_TRANSCEIVE, SMB2_0_IOCTL_IS_FSCTL, data,
                         maxOutputResponse=max_out)
        return {"data": out.hex(), "overflow": False}
    except Exception as e:
        if code_of(e) == STATUS_BUFFER_OVERFLOW:
            # impacket drops the body of an overflow answer; the rest is read by the caller.
            return {"overflow": True}
        raise


def parallel(cfg, n):
    ok = []
    lock = threading.Lock()

    def one(i):
        try:
            c, tid, fid = connect(cfg)
            msg = ("p%d" % i).encode()
            c.writeNamedPipe(tid, fid, msg)
            got = c.readNamedPipe(tid, fid, 4096)
            c.closeFile(tid, fid)
            c.logoff()
            if got == b"echo:" + msg:
                with lock:
                    ok.append(i)
        except Exception as e:
            sys.stderr.write("parallel %d: %s\n" % (i, e))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"ok": len(ok)}


def emit(out):
    for d in out:
        text = " ".join("%s=%s" % (k, str(v).replace(" ", "_")) for k, v in d.items())
        print(text or "-")


def main():
    cfg = json.loads(sys.stdin.read())
    out = []
    if cfg["ops"] and cfg["ops"][0][0] == "parallel":
        out.append(parallel(cfg, cfg["ops"][0][1]))
        emit(out)
        return
    try:
        c, tid, fid = connect(cfg)
        out.append({"dialect": "0x%04X" % c.getDialect()})
    except Exception as e:
        out.append({"open_status": status_of(e), "error": str(e)})
        emit(out)
        return
    for op in cfg["ops"]:
        try:
            if op[0] == "write":
                out.append({"n": c.writeNamedPipe(tid, fid, bytes.fromhex(op[1]))})
            elif op[0] == "read":
                out.append({"data": c.readNamedPipe(tid, fid, op[1]).hex()})
            elif op[0] == "readn":
                got = b""
                while len(got) < op[1]:
                    got += c.readNamedPipe(tid, fid, op[1] - len(got))
                out.append({"data": got.hex()})
            elif op[0] == "transact":
                out.append(transact(c, tid, fid, bytes.fromhex(op[1]), op[2]))
            elif op[0] == "close":
                c.closeFile(tid, fid)
                out.append({"closed": True})
            elif op[0] == "sleep":
                time.sleep(op[1] / 1000.0)
                out.append({})
            else:
                out.append({"error": "unknown op"})
        except Exception as e:
            out.append({"status": status_of(e), "error": str(e)})
    emit(out)


main()
