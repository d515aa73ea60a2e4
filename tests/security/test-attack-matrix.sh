#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
echo 1..0
