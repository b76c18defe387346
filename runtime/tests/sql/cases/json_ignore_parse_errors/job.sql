-- JSON with 'json.ignore-parse-errors' = 'true'. Lines that are not a JSON object
-- (a truncated object, plain text, a JSON array, an empty line) are skipped instead of
-- failing the job. A field whose value does not convert to its column type (a string in
-- a DOUBLE column, an unparsable timestamp, an ISO-8601 timestamp under the default SQL
-- timestamp format) does not drop the row: that field alone becomes NULL.
CREATE TABLE src (
  id INT,
  amount DOUBLE,
  ts TIMESTAMP(3)
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.json',
  'format' = 'json',
  'json.ignore-parse-errors' = 'true'
);

CREATE TABLE print_sink (
  id INT,
  amount DOUBLE,
  ts TIMESTAMP(3)
) WITH ('connector' = 'print');

INSERT INTO print_sink SELECT * FROM src;
