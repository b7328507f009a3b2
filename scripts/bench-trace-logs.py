#!/usr/bin/env python3
"""Writes SIZE_MB of mixed Eucalyptus logs (deterministic) for scripts/bench-trace.

Layout: DIR/sc/cloud-output.log{,.1,.2} (INFO layout), DIR/clc/cloud-output.log (DEBUG layout),
DIR/nc01..nc04/nc.log{,.0} (DEBUG layout). Thousands of volumes attach, detach and get deleted among
DEBUG chatter and stack traces; the traced volume (vol-BE0C0001) goes through one full flow.
"""
import os, random, sys

size_mb, out = int(sys.argv[1]), sys.argv[2]
rng = random.Random(1234)
target = "vol-BE0C0001"
budget = size_mb * 1024 * 1024
files = {
    "sc/cloud-output.log.2": 0.15, "sc/cloud-output.log.1": 0.15, "sc/cloud-output.log": 0.1,
    "clc/cloud-output.log": 0.1,
    "nc01/nc.log.0": 0.1, "nc01/nc.log": 0.1, "nc02/nc.log": 0.1, "nc03/nc.log": 0.1, "nc04/nc.log": 0.1,
}

def ts(sec):
    h, m, s = sec // 3600 % 24, sec // 60 % 60, sec % 60
    return f"2014-04-{18 + sec // 86400:02d} {h:02d}:{m:02d}:{s:02d}"

def vol():
    return f"vol-{rng.randrange(16**8):08X}"

def sc_lines(t):
    v = vol()
    pick = rng.randrange(10)
    if pick < 6:
        op = rng.choice(["GetVolumeToken", "ExportVolume", "CreateStorageVolume", "DeleteStorageVolume", "CreateStorageSnapshot"])
        return [f"{ts(t)}  INFO | Processing {op} request for volume {v}"]
    if pick < 8:
        return [f"{ts(t)}  INFO | Processing UnexportVolume request for volume {v} from node 10.0.0.{rng.randrange(2, 250)} with iqn iqn.1994-05.com.redhat:{rng.randrange(16**12):012x}"]
    if pick < 9:
        return [f"{ts(t)}  INFO | Volume: {v} marked for deletion. Checking export status", f"{ts(t)}  INFO | Volume: {v} was marked for deletion. Cleaning up..."]
    return [f"{ts(t)} ERROR | Failed ExportVolume transaction due to: Got null record result. Cannot set connection string",
            "java.lang.Exception: Got null record result. Cannot set connection string",
            "\tat com.eucalyptus.blockstorage.BlockStorageController.ExportVolume(BlockStorageController.java:525)",
            "\tat sun.reflect.GeneratedMethodAccessor263.invoke(Unknown Source)", "\t... 41 more"]

def clc_lines(t):
    v = vol()
    return [f"{ts(t)} DEBUG {rng.randrange(10**9):09d} Volumes                  | VolumeStateUpdate: PARTI00 {v} EXTANT Fri Apr 18 01:00:00 PDT 2014 storage-volume available=>EXTANT 1GB null Fri Apr 18 01:00:00 PDT 2014 invalid end-state EXTANT"]

def nc_lines(t):
    v, i, tid = vol(), f"i-{rng.randrange(16**8):08X}", f"{rng.randrange(10**9):09d}"
    pick = rng.randrange(6)
    if pick < 3:
        return [f"{ts(t)} DEBUG {tid} doDescribeInstances      | [{i}] Extant (none) pub=10.0.1.{rng.randrange(2, 250)} vols={v}:A",
                f"{ts(t)} DEBUG {tid} doDescribeResource       | returning status=enabled cores=14/16 mem=28400/32000 disk=180/200 iqn=iqn.1994-05.com.redhat:0123456789ab"]
    if pick < 5:
        return [f"{ts(t)} DEBUG {tid} doAttachVolume           | [{i}][{v}] volume attaching (localDev=/dev/vdb)",
                f"{ts(t)} DEBUG {tid} scClientCall             | \tdone scOps=ExportVolume clientrc=0 opFail=0",
                f"{ts(t)} DEBUG {tid} connect_iscsi_target     | connect script returned: 0, stdout: '/dev/sdc', stderr: ''",
                f"{ts(t)}  INFO {tid} doAttachVolume           | [{i}][{v}] volume attached as host device '/dev/sdc' to guest device 'vdb'"]
    return [f"{ts(t)} DEBUG {tid} doDetachVolume           | [{i}][{v}] volume detaching (localDev=/dev/vdb force=0 grab_inst_sem=1)",
            f"{ts(t)} DEBUG {tid} scClientCall             | \tdone scOps=UnexportVolume clientrc=0 opFail=0"]

flow = {
    "sc/cloud-output.log.1": [f"  INFO | Processing CreateStorageVolume request for volume {target}", f"  INFO | Processing GetVolumeToken request for volume {target}", f"  INFO | Processing ExportVolume request for volume {target}"],
    "nc01/nc.log.0": [f" DEBUG 000012427 doAttachVolume           | [i-BE0C0001][{target}] volume attaching (localDev=/dev/vdb)",
                      " DEBUG 000012427 scClientCall             | \tdone scOps=ExportVolume clientrc=0 opFail=0",
                      f"  INFO 000012427 doAttachVolume           | [i-BE0C0001][{target}] volume attached as host device '/dev/sdc' to guest device 'vdb'"],
    "nc01/nc.log": [f" DEBUG 000012480 doDetachVolume           | [i-BE0C0001][{target}] volume detaching (localDev=/dev/vdb force=0 grab_inst_sem=1)",
                    f" DEBUG 000012480 cleanup_volume_attachmen | [{target}] attempting to disconnect iscsi target",
                    " DEBUG 000012480 scClientCall             | \tdone scOps=UnexportVolume clientrc=0 opFail=0",
                    f"  INFO 000012480 doDetachVolume           | [i-BE0C0001][{target}] detached as host device '/dev/sdc' and guest device 'vdb'"],
    "sc/cloud-output.log": [f"  INFO | Processing UnexportVolume request for volume {target} from node 10.0.0.14 with iqn iqn.1994-05.com.redhat:0123456789ab",
                            f"  INFO | Processing DeleteStorageVolume request for volume {target}",
                            f"  INFO | Volume: {target} marked for deletion. Checking export status",
                            f"  INFO | Volume: {target} was marked for deletion. Cleaning up..."],
}
base = 86400 + 12 * 3600
order = [("sc/cloud-output.log.1", 0), ("sc/cloud-output.log.1", 10), ("nc01/nc.log.0", 11), ("sc/cloud-output.log.1", 12), ("nc01/nc.log.0", 12),
         ("nc01/nc.log.0", 13), ("nc01/nc.log", 100), ("nc01/nc.log", 100), ("nc01/nc.log", 101), ("sc/cloud-output.log", 101),
         ("nc01/nc.log", 101), ("sc/cloud-output.log", 200), ("sc/cloud-output.log", 230), ("sc/cloud-output.log", 230)]
taken = {name: 0 for name in flow}
for name, offset in order:
    flow[name][taken[name]] = ts(base + offset) + flow[name][taken[name]]
    taken[name] += 1
start = {"sc/cloud-output.log.2": 0, "sc/cloud-output.log.1": 86400, "sc/cloud-output.log": 2 * 86400, "clc/cloud-output.log": 0,
         "nc01/nc.log.0": 86400, "nc01/nc.log": 2 * 86400}
for name, share in files.items():
    path = os.path.join(out, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    limit = int(budget * share)
    make = sc_lines if name.startswith("sc/") else clc_lines if name.startswith("clc/") else nc_lines
    written, t, chunk = 0, start.get(name, 86400), []
    own = list(flow.get(name, []))
    total_lines_estimate = limit // 110
    every = max(1, total_lines_estimate // (len(own) + 1)) if own else 0
    count = 0
    with open(path, "w") as f:
        while written < limit:
            for line in make(t):
                chunk.append(line)
                count += 1
                if own and count % every == 0:
                    chunk.append(own.pop(0))
            if rng.randrange(4) == 0:
                t += 1
            if len(chunk) > 20000:
                text = "\n".join(chunk) + "\n"
                f.write(text)
                written += len(text)
                chunk = []
        chunk.extend(own)
        if chunk:
            f.write("\n".join(chunk) + "\n")
