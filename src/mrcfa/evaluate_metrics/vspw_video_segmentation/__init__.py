# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
# Marks this folder as a package so that setuptools installs the evaluate script; load it with
# ``evaluate.load(mrcfa.metrics.evaluate_module_path())``, do not import it.
