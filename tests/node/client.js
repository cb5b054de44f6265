// A foreign client: drives shardkeeper through Temporal with the documented JSON alone
// (docs/reference/*.json), no Python and no shardkeeper code.
//
//   node client.js <command> <json-args>
//   commands: run-backup {address, namespace, task_queue, workflow_id, input}
//             start-restore {address, namespace, task_queue, workflow_id, input}
//             progress {address, namespace, workflow_id}
//             approve {address, namespace, workflow_id, approved_by}
//             result {address, namespace, workflow_id}
// Prints one JSON object on stdout.
'use strict';

const { Connection, Client } = require('@temporalio/client');

async function main() {
  const [command, raw] = process.argv.slice(2);
  const args = JSON.parse(raw);
  const connection = await Connection.connect({ address: args.address });
  const client = new Client({ connection, namespace: args.namespace });
  try {
    let out;
    if (command === 'run-backup') {
      const handle = await client.workflow.start('BackupRun', {
        taskQueue: args.task_queue, workflowId: args.workflow_id, args: [args.input],
      });
      out = await handle.result();
    } else if (command === 'start-restore') {
      const handle = await client.workflow.start('Restore', {
        taskQueue: args.task_queue, workflowId: args.workflow_id, args: [args.input],
      });
      out = { workflow_id: handle.workflowId, run_id: handle.firstExecutionRunId };
    } else if (command === 'progress') {
      out = await client.workflow.getHandle(args.workflow_id).query('progress');
    } else if (command === 'approve') {
      await client.workflow.getHandle(args.workflow_id)
        .signal('approve', { approved_by: args.approved_by });
      out = { signalled: 'approve' };
    } else if (command === 'result') {
      out = await client.workflow.getHandle(args.workflow_id).result();
    } else {
      throw new Error(`unknown command ${command}`);
    }
    process.stdout.write(JSON.stringify(out) + '\n');
  } finally {
    await connection.close();
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
