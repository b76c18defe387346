-- JSON with 'json.fail-on-missing-field' = 'true': every declared field is present in
-- every line (a line missing one would fail the job). An explicit JSON null is not a
-- missing field and reads as NULL; field order within a line does not matter and
-- undeclared fields are ignored.
CREATE TABLE src (
  id INT,
  name STRING,
  score DOUBLE
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.json',
  'format' = 'json',
  'json.fail-on-missing-field' = 'true'
);

CREATE TABLE print_sink (
  id INT,
  name STRING,
  score DOUBLE
) WITH ('connector' = 'print');

INSERT INTO print_sink SELECT * FROM src;
