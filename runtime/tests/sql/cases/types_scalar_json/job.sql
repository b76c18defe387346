-- One column of each scalar type, read from JSON and printed as is (including NULLs),
-- to pin down how each type is printed.
CREATE TABLE src (
  b BIGINT,
  i INT,
  s STRING,
  v VARCHAR(10),
  flag BOOLEAN,
  d DOUBLE,
  `dec` DECIMAL(10, 2),
  ts TIMESTAMP(3),
  ltz TIMESTAMP_LTZ(3),
  dt DATE
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.json',
  'format' = 'json'
);

CREATE TABLE print_sink (
  b BIGINT,
  i INT,
  s STRING,
  v VARCHAR(10),
  flag BOOLEAN,
  d DOUBLE,
  `dec` DECIMAL(10, 2),
  ts TIMESTAMP(3),
  ltz TIMESTAMP_LTZ(3),
  dt DATE
) WITH ('connector' = 'print');

INSERT INTO print_sink SELECT * FROM src;
