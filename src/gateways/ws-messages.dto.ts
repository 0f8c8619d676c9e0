/** What the WebSocket at /api/{component}/ws/{id} sends besides the status, for the OpenAPI document. */
import { ApiProperty } from '@nestjs/swagger';

/** The answer to the text command `ping`. */
export class WsPongDto {
  @ApiProperty({ enum: [true], example: true })
  pong: true;
}

/** The answer to the text command `cancel`: false when the operation had already ended. */
export class WsCancelledDto {
  @ApiProperty({ example: true })
  cancelled: boolean;
}

/** An unknown id, an unknown command or a client past its limits (then the socket closes). */
export class WsErrorDto {
  @ApiProperty({ example: 'no test operation with id 0197a3c2-5b1e-7c4d-9a2b-3f4e5d6c7b8a' })
  error: string;
}
