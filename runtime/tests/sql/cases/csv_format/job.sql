-- CSV format with default options: comma-separated, double-quoted fields may contain
-- commas and doubled quotes, BOOLEAN accepts true/TRUE/false, spaces around a field are
-- kept for STRING, an empty STRING field reads as an empty string, TIMESTAMP uses
-- "yyyy-MM-dd HH:mm:ss[.fff]" and DATE "yyyy-MM-dd".
CREATE TABLE src (
  id INT,
  label STRING,
  qty BIGINT,
  ok BOOLEAN,
  x DOUBLE,
  ts TIMESTAMP(3),
  d DATE
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.csv',
  'format' = 'csv'
);

CREATE TABLE print_sink (
  id INT,
  label STRING,
  label_len INT,
  qty BIGINT,
  ok BOOLEAN,
  x DOUBLE,
  ts TIMESTAMP(3),
  d DATE
) WITH ('connector' = 'print');

INSERT INTO print_sink SELECT id, label, CHAR_LENGTH(label), qty, ok, x, ts, d FROM src;
