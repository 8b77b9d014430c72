{ x }: { inherit (x) or; }
