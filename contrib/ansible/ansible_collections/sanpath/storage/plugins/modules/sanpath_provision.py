#!/usr/bin/python
# -*- coding: utf-8 -*-
# sanpath.storage.sanpath_provision: sanpath plan in check mode, sanpath apply otherwise.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: sanpath_provision
short_description: Bring multipath and iSCSI settings in line with the site, with sanpath
description:
  - Runs C(sanpath plan --format json) on the host to learn what would change in
    C(/etc/multipath.conf), C(/etc/iscsi/iscsid.conf), the open-iscsi iface files and the udev rule.
  - In check mode that is all it does. Otherwise, when the plan has changes, it runs C(sanpath apply),
    which writes them atomically with backups (C(sanpath rollback) undoes it) and reloads multipathd
    and udev unless I(reload=false) or I(root) is given.
  - C(changed) is the plan's verdict; with C(--diff) each file's unified diff is shown. CHAP secrets
    never appear in the plan, so never in the diff.
  - Fails with sanpath's own message (a file it cannot parse is named with line and column, and
    nothing is written).
version_added: "0.1.0"
author: sanpath developers
options:
  site:
    description: Site file (TOML). sanpath's default is C(/etc/sanpath/site.toml) (under I(root)).
    type: path
  properties:
    description: Output of C(euca-describe-properties --verbose).
    type: path
  partition:
    description: Partition to read from I(properties).
    type: str
  eucalyptus_conf:
    description: eucalyptus.conf holding C(STORAGE_INTERFACES).
    type: path
  vendor:
    description: Array family.
    type: str
    choices: [equallogic, netapp, vnx]
  role:
    description: Host role, C(nc) (Node Controller) or C(sc) (Storage Controller).
    type: str
    choices: [nc, sc]
  paths:
    description: iSCSI paths in Eucalyptus syntax, C(iface0:10.0.0.5,iface1:10.0.1.5).
    type: str
  sanhost:
    description: SAN management hosts, a comma list.
    type: str
  interfaces:
    description: iface-to-NIC map, C(iface0=br0,iface1=eth1).
    type: str
  root:
    description: Treat this directory as the host's root (tests, dry runs); implies I(reload=false).
    type: path
  templates:
    description: Templates directory (default, the one installed beside sanpath).
    type: path
  multipath_version:
    description: multipath-tools release whose rules to follow (default, the installed one).
    type: str
  reload:
    description: Reload multipathd and udev rules after writing.
    type: bool
    default: true
  update_node_records:
    description: Also bring existing open-iscsi node records in line (C(iscsiadm -o update); sessions stay).
    type: bool
    default: false
  executable:
    description: The sanpath program.
    type: path
    default: sanpath
notes:
  - Supports check mode and diff mode.
"""

EXAMPLES = r"""
- name: multipath and iSCSI as the site file says
  sanpath.storage.sanpath_provision:
    site: /etc/sanpath/site.toml

- name: an NC of a NetApp partition, from Eucalyptus' own settings
  sanpath.storage.sanpath_provision:
    properties: /etc/sanpath/euca-properties.txt
    partition: PARTI00
    eucalyptus_conf: /etc/eucalyptus/eucalyptus.conf
    role: nc
"""

RETURN = r"""
files:
  description: Each managed file of the plan, with what apply does to it and how many settings change.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/etc/multipath.conf", "action": "modify", "changed": true, "changes": 10}]
profile:
  description: The vendor profile and role the plan used.
  returned: always
  type: str
  sample: equallogic nc
stale_node_records:
  description: open-iscsi node records that keep old iscsid.conf values (see I(update_node_records)).
  returned: always
  type: list
applied:
  description: Whether sanpath apply ran.
  returned: always
  type: bool
apply_record:
  description: The apply's record, which C(sanpath rollback) undoes.
  returned: when applied
  type: str
  sample: 20261130T111648-301294-10112
"""

import json

from ansible.module_utils.basic import AnsibleModule

VALUE_OPTIONS = [
    ("site", "--site"), ("properties", "--properties"), ("partition", "--partition"),
    ("eucalyptus_conf", "--eucalyptus-conf"), ("vendor", "--vendor"), ("role", "--role"), ("paths", "--paths"),
    ("sanhost", "--sanhost"), ("interfaces", "--interfaces"), ("root", "--root"), ("templates", "--templates"),
    ("multipath_version", "--multipath-version"),
]


def site_arguments(params):
    argv = []
    for name, flag in VALUE_OPTIONS:
        if params.get(name) is not None:
            argv += [flag, params[name]]
    return argv


def sanpath_message(stdout, stderr):
    """sanpath's own words: its last stderr line (file:line:column for a file it cannot parse),
    else the error of plan's JSON."""
    lines = [line for line in (stderr or "").splitlines() if line.strip()]
    if lines:
        last = lines[-1]
        return last[len("sanpath: "):] if last.startswith("sanpath: ") else last
    try:
        error = json.loads(stdout).get("error")
        if error:
            return error
    except ValueError:
        pass
    return (stdout or "").strip()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            site=dict(type="path"), properties=dict(type="path"), partition=dict(type="str"),
            eucalyptus_conf=dict(type="path"), vendor=dict(type="str", choices=["equallogic", "netapp", "vnx"]),
            role=dict(type="str", choices=["nc", "sc"]), paths=dict(type="str"), sanhost=dict(type="str"),
            interfaces=dict(type="str"), root=dict(type="path"), templates=dict(type="path"),
            multipath_version=dict(type="str"), reload=dict(type="bool", default=True),
            update_node_records=dict(type="bool", default=False), executable=dict(type="path", default="sanpath"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    executable = params["executable"]
    if "/" not in executable:
        executable = module.get_bin_path(executable, required=True, opt_dirs=["/usr/local/bin", "/usr/bin"])
    site = site_arguments(params)
    # colour codes would end up in the diff
    environment = {"NO_COLOR": "1"}

    rc, stdout, stderr = module.run_command([executable, "plan", "--format", "json", "--color", "never"] + site, environ_update=environment)
    if rc not in (0, 2):
        module.fail_json(msg="sanpath plan: " + sanpath_message(stdout, stderr), rc=rc, stderr=stderr)
    try:
        plan = json.loads(stdout)
    except ValueError:
        module.fail_json(msg="sanpath plan --format json printed no JSON", rc=rc, stdout=stdout, stderr=stderr)
    changed = bool(plan.get("changed")) or rc == 2
    changed_files = [f for f in plan.get("files", []) if f.get("changed")]
    result = dict(
        changed=changed,
        applied=False,
        profile=plan.get("profile"),
        files=[
            dict(path=f.get("path"), action=f.get("action"), changed=bool(f.get("changed")), changes=len(f.get("changes", [])))
            for f in plan.get("files", [])
        ],
        stale_node_records=plan.get("staleNodeRecords", []),
    )
    if module._diff and changed_files:
        result["diff"] = [dict(prepared=f.get("diff", "")) for f in changed_files]

    if changed and not module.check_mode:
        argv = [executable, "apply", "--color", "never"] + site
        if not params["reload"]:
            argv.append("--no-reload")
        if params["update_node_records"]:
            argv.append("--update-node-records")
        rc, stdout, stderr = module.run_command(argv, environ_update=environment)
        if rc != 0:
            module.fail_json(msg="sanpath apply: " + sanpath_message(stdout, stderr), rc=rc, stderr=stderr, **result)
        result["applied"] = True
        # "Applied 6 file(s); apply record 20261130T111648-301294-10112 (`sanpath rollback` undoes it)."
        for line in stdout.splitlines():
            if line.startswith("Applied ") and "apply record " in line:
                result["apply_record"] = line.split("apply record ", 1)[1].split()[0]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
