-- A filesystem table PARTITIONED BY two columns reads their values from the Hive-style
-- folder names (`dt=.../region=...`), placed at the columns' declared positions. The files
-- hold only the other columns.
CREATE TABLE events (
  id BIGINT,
  name STRING,
  dt STRING,
  amount INT,
  region STRING
) PARTITIONED BY (dt, region) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/events',
  'format' = 'csv'
);

CREATE TABLE print_sink (
  id BIGINT,
  name STRING,
  dt STRING,
  amount INT,
  region STRING
) WITH ('connector' = 'print');

INSERT INTO print_sink SELECT * FROM events;
