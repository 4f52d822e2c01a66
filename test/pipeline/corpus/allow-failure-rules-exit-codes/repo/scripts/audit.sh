#!/bin/sh
# Exits 3 when advisories are found (a warning), other codes on real errors.
echo "2 moderate advisories"
exit 3
