#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fails when the sources name a DEMI_* variable that the configuration
table (core/include/dm/config_vars.h) does not list, when the library reads
the environment behind the table's back (getenv), or when the table lists a
variable that nothing reads any more.

Names that are not environment variables (the demi_* API's macros and enum
constants, meson placeholders) are told apart by how they are written:
after #define/#ifndef, as an enum member, as @NAME@ or -DNAME."""
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', '..', '..')
table_file = os.path.join(root, 'core', 'include', 'dm', 'config_vars.h')
library_dirs = ['core', 'stacks', 'devices', 'shim', 'interpose']
read_dirs = library_dirs + ['scripts']        # what must be in the table
use_dirs = read_dirs + ['test', 'bench']        # where a listed variable may be read
exts = ('.c', '.h', '.sh', '.py', '.in', '.build')

table = set('DEMI_' + m for m in re.findall(r'^\s*X\((\w+),', open(table_file).read(), re.M))
if len(table) < 10:
    sys.exit(f'{table_file}: found only {len(table)} variables; has the X(...) format changed?')

token = re.compile(r'\b(?:DEMI|DM_CFG)_[A-Z0-9_]*[A-Z0-9]\b')
c_not_vars = [re.compile(p, re.M) for p in (
    r'#\s*(?:define|ifndef|ifdef|undef)\s+(DEMI_\w+)',
    r'\bdefined\s*\(?\s*(DEMI_\w+)',
    r'^\s*(DEMI_\w+)\s*(?:=[^=]|,)')]         # enum members
any_not_vars = [re.compile(p) for p in (r'@(DEMI_\w+)@', r"-D(DEMI_\w+)", r"_conf\.set\('(DEMI_\w+)'")]


def files(dirs):
    for d in dirs:
        for dirpath, _, names in os.walk(os.path.join(root, d)):
            for n in names:
                p = os.path.join(dirpath, n)
                if (n.endswith(exts) or (d == 'scripts' and '.' not in n)) and os.path.isfile(p):
                    yield p


def text(p):
    with open(p, errors='replace') as f:
        return f.read()


sources = {p: text(p) for p in files(use_dirs)}
sources[os.path.join(root, 'meson.build')] = text(os.path.join(root, 'meson.build'))
excluded = set()
for p, t in sources.items():
    for r in any_not_vars + (c_not_vars if p.endswith(('.c', '.h')) else []):
        excluded.update(r.findall(t))

problems = []
used = set()
for p, t in sources.items():
    rel = os.path.relpath(p, root)
    in_read = rel.split(os.sep)[0] in read_dirs
    for m in token.finditer(t):
        name = m.group(0)
        if name.startswith('DM_CFG_'):
            name = 'DEMI_' + name[len('DM_CFG_'):]
            if name not in table:
                continue  # DM_CFG_AUTO, DM_CFG_T_INT, ...: the API's own
        if name in excluded:
            continue
        if os.path.abspath(p) != os.path.abspath(table_file):
            used.add(name)
        if in_read and name not in table:
            line = t.count('\n', 0, m.start()) + 1
            problems.append(f'{rel}:{line}: {name} is not in the configuration table ({table_file})')
    if rel.split(os.sep)[0] in library_dirs and re.search(r'\b(?:secure_)?getenv\s*\(', t):
        problems.append(f'{rel}: calls getenv(); the library reads DEMI_* only through the table '
                        '(dm_config_init snapshots the environment)')

for name in sorted(table - used):
    problems.append(f'{name} is in the table but nothing in {", ".join(use_dirs)} reads it')

for p in problems:
    print(p)
print(f'{len(table)} variables in the table, {len(used)} named in the sources: '
      f'{"FAIL" if problems else "ok"}')
sys.exit(1 if problems else 0)
