#!/usr/bin/env python3
"""Writes a large, valid Nix expression (helper of bench/run.sh's parse benchmark).

    gen_large_nix.py OUT MEGABYTES

The file mixes what real package sets contain: attribute sets (plain, rec, nested paths,
inherit), functions with formals, let, with, if, lists, arithmetic and comparison,
strings with interpolation, indented strings, paths, URIs, comments. Every variable is
bound, so `nix-instantiate --parse` accepts it.
"""
import random
import sys

out, mb = sys.argv[1], float(sys.argv[2])
rnd = random.Random(8)
target = int(mb * 1024 * 1024)

def item(i):
    n = rnd.randint(0, 9999)
    return f'''  # package {i}
  pkg{i} = {{ lib, stdenv, fetchurl, deps ? [ ], enableFoo ? false, ... }}@args:
    let
      version = "{n % 10}.{n % 7}.{i}";
      src = fetchurl {{
        url = "https://example.org/pkg{i}/pkg{i}-${{version}}.tar.gz";
        sha256 = "{rnd.getrandbits(200):050x}";
      }};
      flags = [ "--prefix=$out" "--with-n={n}" ] ++ lib.optional enableFoo "--enable-foo";
    in stdenv.mkDerivation rec {{
      pname = "pkg{i}";
      inherit version src;
      buildInputs = deps ++ [ lib.dummy{i % 13} ];
      configureFlags = flags;
      doCheck = {n} * 2 + 1 > {n // 2} && !enableFoo || version == "1.0";
      meta.description = "Package number {i} with ${{toString (builtins.length flags)}} flags";
      meta.homepage = https://example.org/p{i};
      passthru.tests = with lib; {{ simple = if doCheck then ./tests/t{i}.nix else null; }};
      postInstall = \'\'
        mkdir -p $out/share/pkg{i}
        echo "${{pname}} ''${{version}}" > $out/share/pkg{i}/VERSION
        for f in $out/bin/*; do wrap "$f" --set N {n}; done
      \'\';
      attrs.a{i}.b.c = {{ x = {n}.5; y = -{n % 97}; z = [ 1 2 (3 / 4) ]; }};
    }};
'''

with open(out, "w") as f:
    f.write("let dummy = x: x; in\n{\n")
    size, i = 0, 0
    while size < target:
        s = item(i)
        f.write(s)
        size += len(s)
        i += 1
    f.write("}\n")
