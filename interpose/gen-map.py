#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Writes the preload's linker version script from syms.h: every DM_SYM(x)
# is exported (unversioned, so it interposes any GLIBC_x.y reference), all
# other symbols - our internals, DPDK, liburing - stay local.
import re
import sys

src, dst = sys.argv[1], sys.argv[2]
names = re.findall(r'^\s*DM_SYM\((\w+)\)', open(src).read(), re.M)
if not names:
    sys.exit('gen-map.py: no DM_SYM entries in ' + src)
with open(dst, 'w') as f:
    f.write('/* generated from interpose/syms.h by gen-map.py */\n{\n  global:\n')
    for n in names:
        f.write('    %s;\n' % n)
    f.write('  local:\n    *;\n};\n')
