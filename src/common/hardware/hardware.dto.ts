import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class BackendDto {
  @ApiProperty({ enum: ['cpu', 'cuda', 'webgpu'] })
  name: 'cpu' | 'cuda' | 'webgpu';
  available: boolean;
  /** Why it is unavailable and how to make it available. */
  reason?: string;
  @ApiPropertyOptional({ type: 'object', additionalProperties: true })
  device?: Record<string, unknown>;
  onnxruntime_version: string;
  execution_provider: string;
  detect_ms?: number;
}

export class HardwareListDto {
  backends: BackendDto[];
}
