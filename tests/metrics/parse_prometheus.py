"""Parses Prometheus text exposition files with the reference parser of the Prometheus
Python client (prometheus_client.parser) and prints what it read as one JSON document:
{"families": [{"name", "type", "help", "samples": [{"name", "labels", "value"}]}]}.

Exits 1 naming the problem when the parser refuses a file, and when it reads something the
format forbids but the parser tolerates: a family without a TYPE or HELP line, a family
declared twice, a sample repeated with the same name and labels. tests/metrics.rs runs it.
"""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def parse(path):
    with open(path, encoding="utf-8") as file:
        text = file.read()
    families, names, seen = [], set(), set()
    for family in text_string_to_metric_families(text):
        if family.type == "unknown":
            raise ValueError(f"{family.name}: samples without a TYPE line")
        if not family.documentation:
            raise ValueError(f"{family.name}: no HELP line")
        if family.name in names:
            raise ValueError(f"{family.name}: declared twice")
        names.add(family.name)
        samples = []
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            if key in seen:
                raise ValueError(f"{sample.name}{sample.labels}: repeated")
            seen.add(key)
            samples.append({"name": sample.name, "labels": sample.labels, "value": sample.value})
        families.append({
            "name": family.name,
            "type": family.type,
            "help": family.documentation,
            "samples": samples,
        })
    return {"families": families}


def main():
    try:
        print(json.dumps(parse(sys.argv[1])))
    except Exception as error:  # every refusal is the test's failure, with its reason
        print(f"{sys.argv[1]}: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)


main()
