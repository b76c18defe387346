-- JSON with 'json.fail-on-missing-field' = 'false' (also the default): a field missing
-- from a line (also inside a nested object) reads as NULL, like an explicit null; fields
-- not declared in the table are ignored; a number written as a JSON string ("12") is
-- converted to the declared numeric type, and a JSON number read into a STRING column
-- gives its text.
CREATE TABLE src (
  id INT,
  name STRING,
  qty INT,
  tags ARRAY<STRING>,
  info ROW<x INT, y STRING>
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.json',
  'format' = 'json',
  'json.fail-on-missing-field' = 'false'
);

CREATE TABLE print_sink (
  id INT,
  name STRING,
  qty INT,
  tags ARRAY<STRING>,
  info ROW<x INT, y STRING>
) WITH ('connector' = 'print');

INSERT INTO print_sink SELECT * FROM src;
