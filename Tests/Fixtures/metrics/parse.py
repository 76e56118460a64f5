"""Parses the Prometheus text in the file argv[1] with the official prometheus-client parser; prints the samples as JSON.

Each sample is {"name", "labels", "value"}; families are {"name", "type", "help"}. A line the parser refuses fails
the script, so the text must be valid exposition format.
"""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families

families, samples = [], []
with open(sys.argv[1]) as source:
    text = source.read()
for family in text_string_to_metric_families(text):
    families.append({"name": family.name, "type": family.type, "help": family.documentation})
    for sample in family.samples:
        samples.append({"name": sample.name, "labels": sample.labels, "value": sample.value})
print(json.dumps({"families": families, "samples": samples}))
