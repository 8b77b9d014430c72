scopedImport { x = 21; } ../files/scoped.nix
