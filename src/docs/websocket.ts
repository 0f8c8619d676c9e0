/**
 * The WebSocket protocol in the OpenAPI document, which has no WebSocket operations: a Markdown
 * section of the description, a `websocket` tag, and an `x-websocket` extension that names the
 * route, its parameters, the handshake answers, the messages each way (by $ref to the schemas)
 * and the close codes. OperationsGateway and PrefixWsAdapter implement what it says.
 */
import type { OpenAPIObject } from '@nestjs/swagger';
import { WS_MAX_PAYLOAD_BYTES } from '../gateways/prefix-ws.adapter';
import {
  COMMAND_BURST,
  COMMAND_RATE_PER_S,
  MAX_PENDING_COMMANDS,
  MIN_INTERVAL_MS,
} from '../gateways/operations.gateway';
import { WsCancelledDto, WsErrorDto, WsPongDto } from '../gateways/ws-messages.dto';

export const WS_MESSAGE_MODELS = [WsPongDto, WsCancelledDto, WsErrorDto];

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

export const WEBSOCKET_DESCRIPTION = `

## WebSocket: \`/api/{test|generator|benchmark}/ws/{id}\`

Progress of one operation. On connect the server sends the full status (\`OperationStatusDto\`), then
one message per update (at most ${1000 / MIN_INTERVAL_MS} a second), the final status, then closes with 1000.
Client text \`ping\` → \`{"pong":true}\`, \`status\` → the status, \`cancel\` → \`{"cancelled":true|false}\`.
An unknown id gets \`{"error": "..."}\` and close 4404. With an API key set the handshake needs it
(\`X-API-Key\` header or \`api_key\` query parameter); without it the upgrade is answered HTTP 401
with the error body. Details in \`x-websocket\`.`;

/** Adds the `x-websocket` extension and the `websocket` tag to the document. */
export function describeWebSocket(document: OpenAPIObject): void {
  const doc = document as OpenAPIObject & Record<string, unknown>;
  doc['x-websocket'] = {
    '/api/{component}/ws/{id}': {
      summary: 'Follow one operation: its status on connect, each update, the final status',
      tags: ['websocket'],
      parameters: [
        {
          name: 'component',
          in: 'path',
          required: true,
          schema: { type: 'string', enum: ['test', 'generator', 'benchmark'] },
        },
        {
          name: 'id',
          in: 'path',
          required: true,
          description: 'The run_id or task_id the POST answered',
          schema: { type: 'string' },
        },
        {
          name: 'api_key',
          in: 'query',
          required: false,
          description: 'The API key, for clients that cannot set the X-API-Key header',
          schema: { type: 'string' },
        },
      ],
      handshake: {
        '101': { description: 'Switching protocols: the socket is open' },
        '401': { description: 'API_KEY is set and the key is missing or wrong', schema: ref('ErrorBodyDto') },
        '404': { description: 'No WebSocket route at this path', schema: ref('ErrorBodyDto') },
        '503': { description: 'WS_MAX_CONNECTIONS sockets are open', schema: ref('ErrorBodyDto') },
      },
      serverMessages: {
        status: {
          description: 'On connect, after each update (coalesced) and at the end; the answer to `status`',
          schema: ref('OperationStatusDto'),
        },
        pong: { description: 'The answer to `ping`', schema: ref('WsPongDto') },
        cancelled: { description: 'The answer to `cancel`', schema: ref('WsCancelledDto') },
        error: {
          description: 'Unknown id or command, or a client past its limits',
          schema: ref('WsErrorDto'),
        },
      },
      clientMessages: {
        ping: { description: 'Text `ping`: answered `{"pong":true}`' },
        status: { description: 'Text `status`: answered with the status' },
        cancel: { description: 'Text `cancel`: cancels the operation, answered `{"cancelled":bool}`' },
      },
      limits: {
        max_message_bytes: WS_MAX_PAYLOAD_BYTES,
        command_burst: COMMAND_BURST,
        commands_per_second: COMMAND_RATE_PER_S,
        max_pending_commands: MAX_PENDING_COMMANDS,
        max_updates_per_second: 1000 / MIN_INTERVAL_MS,
      },
      closeCodes: {
        '1000': 'The final status was sent (the reason is the status)',
        '1008': 'Past the command limits (an error message first)',
        '1009': `A frame or message over ${WS_MAX_PAYLOAD_BYTES} bytes`,
        '1011': 'The server failed to follow the operation',
        '4404': 'No operation with this id (an error message first)',
      },
    },
  };
}
