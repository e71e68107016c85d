#!/usr/bin/env python3
"""Prints the file-level `crate::` reference graph of sso-server/src and its strongly connected components."""
import os, re, sys
root = sys.argv[1] if len(sys.argv) > 1 else 'sso-server/src'
mods = {}  # module path tuple -> file
for dp, _, fs in os.walk(root):
    for f in fs:
        if not f.endswith('.rs'): continue
        p = os.path.relpath(os.path.join(dp, f), root)
        parts = p[:-3].split('/')
        if parts[-1] in ('mod', 'lib', 'main'): parts = parts[:-1]
        mods[tuple(parts)] = p
def modof(f):
    parts = f[:-3].split('/')
    if parts[-1] in ('mod','lib','main'): parts = parts[:-1]
    return tuple(parts)
def resolve(path):
    for n in range(len(path), -1, -1):
        if tuple(path[:n]) in mods: return mods[tuple(path[:n])]
edges = {f: set() for f in mods.values()}
for m, f in mods.items():
    if f == 'main.rs': continue
    src = open(os.path.join(root, f)).read()
    src = re.sub(r'#\[cfg\(test\)\]\s*mod tests \{.*', '', src, flags=re.S)  # test modules don't count
    refs = []
    for g in re.finditer(r'crate::((?:\w+::)*\w+)(::\{([^}]*)\})?', src):
        base = g.group(1).split('::')
        if g.group(3):
            for item in g.group(3).split(','):
                item = item.strip().split(' ')[0]
                refs.append(base + [p for p in item.split('::') if p and p != 'self'])
        else:
            refs.append(base)
    for g in re.finditer(r'(?<![\w:])super::((?:\w+::)*\w+)', src):
        me = list(m) if not f.endswith('mod.rs') else list(m)
        parent = list(m[:-1])
        refs.append(parent + g.group(1).split('::'))
    for r in refs:
        t = resolve(r)
        if t and t != f: edges[f].add(t)
# Tarjan
sys.setrecursionlimit(10000)
idx, low, st, on, out, c = {}, {}, [], set(), [], [0]
def sc(v):
    idx[v] = low[v] = c[0]; c[0] += 1; st.append(v); on.add(v)
    for w in edges[v]:
        if w not in idx: sc(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], idx[w])
    if low[v] == idx[v]:
        comp = []
        while True:
            w = st.pop(); on.discard(w); comp.append(w)
            if w == v: break
        out.append(comp)
for v in edges:
    if v not in idx: sc(v)
big = sorted([x for x in out if len(x) > 1], key=len, reverse=True)
print(f'{len(mods)} files; cycles: {[len(x) for x in big]}')
for comp in big:
    print(' ', ' '.join(sorted(comp)))
if '--who' in sys.argv:
    f = sys.argv[sys.argv.index('--who')+1]
    print('imports of', f, sorted(edges[f])); print('imported by', sorted(k for k,v in edges.items() if f in v))
