{ lib }:
let
  mk = spdxId: fullName: { inherit spdxId fullName; shortName = spdxId; free = true; redistributable = true;
    url = "https://spdx.org/licenses/${spdxId}.html"; deprecated = false; };
in
{
  mit = mk "MIT" "MIT License";
  asl20 = mk "Apache-2.0" "Apache License 2.0";
  bsd2 = mk "BSD-2-Clause" "BSD 2-clause \"Simplified\" License";
  bsd3 = mk "BSD-3-Clause" "BSD 3-clause \"New\" or \"Revised\" License";
  gpl2Only = mk "GPL-2.0-only" "GNU General Public License v2.0 only";
  gpl2Plus = mk "GPL-2.0-or-later" "GNU General Public License v2.0 or later";
  gpl3Only = mk "GPL-3.0-only" "GNU General Public License v3.0 only";
  gpl3Plus = mk "GPL-3.0-or-later" "GNU General Public License v3.0 or later";
  lgpl21Plus = mk "LGPL-2.1-or-later" "GNU Lesser General Public License v2.1 or later";
  lgpl3Plus = mk "LGPL-3.0-or-later" "GNU Lesser General Public License v3.0 or later";
  mpl20 = mk "MPL-2.0" "Mozilla Public License 2.0";
  isc = mk "ISC" "ISC License";
  zlib = mk "Zlib" "zlib License";
  psfl = mk "Python-2.0" "Python Software Foundation License version 2";
  curl = mk "curl" "curl License";
  publicDomain = { shortName = "publicDomain"; fullName = "Public Domain"; free = true; redistributable = true; deprecated = false; };
  unfree = { shortName = "unfree"; fullName = "Unfree"; free = false; redistributable = false; deprecated = false; };
}
